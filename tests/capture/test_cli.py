"""The capture CLI: `record` with a progress line and final state, `inspect` (the contract)."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamer.capture.timeline import Timeline, TimelineWriter
from streamer.cli import app
from streamer.simulate import ReplayServer
from tests.capture.conftest import ROOT, streamer_cmd

TS = b"\x47" + b"\x00" * 187  # one MPEG-TS packet is enough for the timeline


def _fixture_recording(directory: Path) -> None:
    t0 = datetime(2026, 4, 27, 1, 0, 0, tzinfo=UTC)
    with TimelineWriter(directory) as w:
        w.write_meta({"source_url": "http://127.0.0.1:1/live.m3u8"})
        w.start()
        w.new_part(1, "start")
        for i in range(3):
            w.write_segment(1, 100 + i, TS * 10, t0 + timedelta(seconds=i), 1.0, True)
        w.gap(t0 + timedelta(seconds=3), t0 + timedelta(seconds=8), "segments 103-107 missed")
        for i in range(8, 10):
            w.write_segment(1, 100 + i, TS * 10, t0 + timedelta(seconds=i), 1.0, True)
        w.new_part(2, "sequence reset")
        w.write_segment(2, 0, TS * 10, t0 + timedelta(seconds=10.2), 1.0, True)
        w.end("stopped", "stop requested")


def test_inspect_json_is_the_timeline_contract(tmp_path: Path) -> None:
    _fixture_recording(tmp_path)
    result = CliRunner().invoke(app, ["inspect", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data == Timeline.load(tmp_path).to_json(UTC)
    assert [p["segments"] for p in data["parts"]] == [5, 1]
    assert data["gaps"] == [
        {
            "start": "2026-04-27T01:00:03+00:00",
            "end": "2026-04-27T01:00:08+00:00",
            "duration_s": 5.0,
            "reason": "segments 103-107 missed",  # each gap with its reason (DESIGN §4)
        }
    ]
    assert data["provenance"] == {"live": 6.0, "dvr": 0.0, "archive": 0.0}
    assert data["start"] == "2026-04-27T01:00:00+00:00"
    assert data["covered_s"] == 6.0


def test_inspect_in_a_zone_and_as_a_table(tmp_path: Path) -> None:
    _fixture_recording(tmp_path)
    runner = CliRunner()
    seoul = json.loads(
        runner.invoke(app, ["inspect", str(tmp_path), "--json", "--tz", "Asia/Seoul"]).output
    )
    assert seoul["start"] == "2026-04-27T10:00:00+09:00"
    table = runner.invoke(app, ["inspect", str(tmp_path)], env={"COLUMNS": "160"})
    assert table.exit_code == 0
    assert "sequence reset" in table.output
    assert "segments 103-107 missed" in table.output
    assert "covered 6.0s" in table.output and "1 gap(s)" in table.output


def test_inspect_rejects_a_directory_without_a_recording(tmp_path: Path) -> None:
    proc = subprocess.run(
        streamer_cmd("inspect", str(tmp_path)),
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 4
    assert "not a recording" in proc.stderr


def test_record_rejects_until_with_duration(tmp_path: Path) -> None:
    proc = subprocess.run(
        streamer_cmd(
            "record",
            "http://127.0.0.1:1/x.m3u8",
            "--out",
            str(tmp_path / "r"),
            "--until",
            "2026-01-01T00:00:00Z",
            "--duration",
            "5",
        ),
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "not both" in proc.stderr


@pytest.mark.slow
def test_record_cli_progress_final_line_and_sigterm(tmp_path: Path, replay: ReplayServer) -> None:
    out = tmp_path / "rec"
    # the replay server is on 127.0.0.1: the CLI must be told that this source is allowed
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STREAMER_ALLOW_PRIVATE_SOURCES": "true"}
    proc = subprocess.Popen(
        streamer_cmd("record", replay.url(0), "--out", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        env=env,
    )
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=40)
        while datetime.now(UTC) < deadline and len(Timeline.load(out).segments) < 3:
            if proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.3"], check=True)
        proc.terminate()  # SIGTERM: a clean stop
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert stdout.startswith("stopped: stop requested"), stdout
    assert "segments" in stdout
    timeline = Timeline.load(out)
    assert timeline.end_state == "stopped"
    assert len(timeline.segments) >= 3
