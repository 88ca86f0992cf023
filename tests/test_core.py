from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamer import procs
from streamer.capture.timeline import Timeline, TimelineWriter
from streamer.config import Settings
from streamer.errors import ConfigError, ToolError, ToolTimeout
from streamer.logs import redact


def test_ffmpeg_found_and_version_checked() -> None:
    tool = procs.find("ffmpeg")
    assert tool.version.startswith("ffmpeg version")


def test_run_timeout_terminates_then_kills(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with pytest.raises(ToolTimeout):
        # a child that ignores SIGTERM must still be killed
        procs.run(
            [
                sys.executable,
                "-c",
                "import os,signal,sys,time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)",
            ],
            timeout=1,
        )
    # gone (killed and reaped), whatever the time it took on a busy machine
    pid = pid_file.read_text() if pid_file.exists() else ""
    if pid.isdigit():  # it may not even have got that far within the second
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def test_run_failure_carries_stderr() -> None:
    with pytest.raises(ToolError, match="boom"):
        procs.run(
            [sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"], timeout=10
        )


def test_admin_token_placeholder_refused_in_production(tmp_path: Path) -> None:
    s = Settings(_env_file=None, env="production", admin_token="changeme", data_dir=tmp_path)  # type: ignore[call-arg, arg-type]
    with pytest.raises(ConfigError, match="STREAMER_ADMIN_TOKEN"):
        s.admin_token_value()


def test_redact_hides_tokens() -> None:
    assert "s3cr3t" not in redact("Authorization: Bearer s3cr3t and ?token=s3cr3t&x=1")


def test_timeline_roundtrip_gaps_and_pieces(tmp_path: Path) -> None:
    t0 = datetime(2021, 4, 27, 1, 0, tzinfo=UTC)
    with TimelineWriter(tmp_path) as w:
        for seq in range(10):
            w.write_segment(1, seq, b"x" * 10, t0 + timedelta(seconds=seq), 1.0, True)
        for seq in range(15, 20):  # 10..14 missed: a 5 s gap, same part
            w.write_segment(1, seq, b"x" * 10, t0 + timedelta(seconds=seq), 1.0, True)
    # a torn last line from a crash is ignored
    with open(tmp_path / "timeline.jsonl", "a") as fh:
        fh.write('{"t": "seg", "part"')
    tl = Timeline.load(tmp_path)
    out = tl.to_json()
    assert out["covered_s"] == 15
    assert [g["duration_s"] for g in out["gaps"]] == [5]
    assert len(tl.runs()) == 2
    pieces = tl.pieces(t0 + timedelta(seconds=2.5), t0 + timedelta(seconds=17.5))
    assert [p.duration_s for p in pieces] == [7.5, 2.5]
    assert pieces[0].offset_in == 0.5 and len(pieces[0].files) == 8
    assert tl.gaps_within(t0, t0 + timedelta(seconds=25))[-1].duration_s == 5


def test_time_jump_inside_consecutive_sequence_numbers_is_a_gap(tmp_path: Path) -> None:
    t0 = datetime(2021, 4, 27, 1, 0, tzinfo=UTC)
    with TimelineWriter(tmp_path) as w:
        for seq in range(100, 110):  # +30 s jump after 104, numbers still consecutive
            start = t0 + timedelta(seconds=seq - 100 + (30 if seq >= 105 else 0))
            w.write_segment(1, seq, b"x", start, 1.0, True)
    tl = Timeline.load(tmp_path)
    assert len(tl.runs()) == 2
    window = (t0, t0 + timedelta(seconds=40))
    assert [round(g.duration_s) for g in tl.gaps_within(*window)] == [30]
    pieces = tl.pieces(*window)
    assert [p.duration_s for p in pieces] == [5.0, 5.0]
    assert pieces[1].start == t0 + timedelta(seconds=35)
