"""``streamer unpublish`` goes through the state machine, as the admin route does: the state DB
says ``unpublished`` afterwards, and a session that is not published is refused untouched."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from streamer.cli import app
from streamer.config import Settings
from streamer.pipeline.states import SessionState
from streamer.pipeline.store import Store
from streamer.publish.catalog import Publisher
from streamer.publish.local import LocalStorage
from streamer.schedule.load import load_program
from streamer.vod import VodRecord, dump

SCHEDULE = """
event: {id: unfest, title: "Un Fest", timezone: UTC}
broadcasts:
  - {id: main, url: "https://example.org/m.m3u8", start: 2026-01-05T09:00Z, end: 2026-01-05T12:00Z}
sessions:
  - {id: talk, broadcast: main, start: "2026-01-05T10:00Z", end: "2026-01-05T10:30Z", title: Talk}
"""


def _published(tmp_path: Path) -> tuple[dict[str, str], Store, LocalStorage]:
    """A state DB saying ``talk`` is published, and its VOD in the service's local store."""
    (tmp_path / "unfest.yaml").write_text(SCHEDULE, "utf-8")
    env = {"STREAMER_DATA_DIR": str(tmp_path / "data")}
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    store = Store(settings.db_url)
    store.sync_program(load_program(tmp_path / "unfest.yaml"))
    for state in (SessionState.SPLITTING, SessionState.PUBLISHING, SessionState.PUBLISHED):
        store.set_session_state("unfest", "talk", state)
    folder = tmp_path / "vods" / "unfest"
    folder.mkdir(parents=True)
    (folder / "talk.mp4").write_bytes(b"not really a video, but the publisher only hashes it")
    record = VodRecord(
        id="unfest.talk",
        event_id="unfest",
        session_id="talk",
        title={"en": "Talk"},
        start="2026-01-05T10:00:00+00:00",
        end="2026-01-05T10:30:00+00:00",
        scheduled_start="2026-01-05T10:00:00+00:00",
        scheduled_end="2026-01-05T10:30:00+00:00",
        duration_s=1800.0,
        size_bytes=0,
        sha256="0" * 64,
    )
    (folder / "talk.json").write_text(json.dumps(dump(record)), "utf-8")
    storage = LocalStorage(settings.data_dir / "public")
    Publisher(storage).publish_dir(tmp_path / "vods")
    assert storage.head("unfest/talk.mp4") is not None
    return env, store, storage


def test_unpublish_cli_moves_the_session_to_unpublished(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no stray .env
    env, store, storage = _published(tmp_path)
    runner = CliRunner()

    result = runner.invoke(app, ["unpublish", "unfest", "talk"], env=env)
    assert result.exit_code == 0, result.output
    assert "deleted unfest/talk.mp4" in result.output
    assert storage.head("unfest/talk.mp4") is None
    s = store.session("unfest", "talk")
    assert s.state == SessionState.UNPUBLISHED and s.reason == "unpublished by the media team"

    # again: the state machine refuses it, with a message and no traceback
    again = runner.invoke(app, ["unpublish", "unfest", "talk"], env=env)
    assert again.exit_code != 0
    assert "not published" in again.output and "Traceback" not in again.output
    assert store.session("unfest", "talk").state == SessionState.UNPUBLISHED


def test_unpublish_cli_without_a_state_db_creates_none(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    result = CliRunner().invoke(
        app, ["unpublish", "unfest", "talk"], env={"STREAMER_DATA_DIR": str(data)}
    )
    assert result.exit_code != 0 and "no published VOD" in result.output
    assert not (data / "streamer.db").exists()
