from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamer.cli import app
from streamer.pipeline.store import Store
from tests.pipeline.test_states_store import program


def test_status_shows_states_times_in_the_event_zone_and_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMER_DATA_DIR", str(tmp_path))
    store = Store(f"sqlite:///{tmp_path / 'streamer.db'}")
    store.sync_program(program("a", "b"))
    store.set_session_state("forum", "b", "splitting")
    store.set_session_state("forum", "b", "failed", "missing: no recording covers 10:00-10:25")
    runner = CliRunner()
    human = runner.invoke(app, ["status"], env={"COLUMNS": "160"})
    assert human.exit_code == 0, human.output
    assert "04-27 09:30" in human.output  # the first session, in Asia/Seoul
    assert "missing: no recording covers" in human.output
    data = json.loads(runner.invoke(app, ["status", "--json"]).output)
    by = {s["id"]: s for s in data["sessions"]}
    assert by["b"]["state"] == "failed" and by["b"]["start"].endswith("+09:00")
    assert data["counts"] == {"planned": 1, "failed": 1}
