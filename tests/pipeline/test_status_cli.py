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


def test_status_counts_segments_and_gaps_from_the_timeline_not_process_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After restarts the capture's counters start from zero; the recording folder keeps
    what was captured, and status reads it."""
    from datetime import timedelta

    from streamer.capture.timeline import TimelineWriter
    from tests.pipeline.test_states_store import T0

    monkeypatch.setenv("STREAMER_DATA_DIR", str(tmp_path))
    store = Store(f"sqlite:///{tmp_path / 'streamer.db'}")
    store.sync_program(program("a"))
    rec = tmp_path / "recordings" / "forum" / "day1"
    with TimelineWriter(rec) as writer:
        writer.start()
        at = T0
        for seq in range(10):
            if seq == 5:
                at += timedelta(seconds=31)  # an outage: 31 s never captured
            writer.write_segment(0, seq, b"\0" * 1000, at, 2.0, True)
            at += timedelta(seconds=2)
    # the third restart's capture has seen nothing yet: its counters say 0
    store.save_recording("forum", "day1", dir=str(rec), segments=0, bytes=0, gaps=0)
    data = json.loads(CliRunner().invoke(app, ["status", "--json"]).output)
    recording = data["broadcasts"][0]["recording"]
    assert (recording["segments"], recording["bytes"]) == (10, 10_000)
    assert (recording["gaps"], recording["gap_s"]) == (1, 31.0)
