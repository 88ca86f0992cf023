"""``streamer split`` end to end on the fixture recording, and the thumbnail's black-frame rule."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from streamer.cli import app
from streamer.split.thumbnail import frame_stats, is_blank, write_thumbnail
from tests.split.conftest import Recording

SCHEDULE = """\
event:
  id: testcon
  title: {en: "Test Con", ko: "테스트"}
  timezone: Asia/Seoul
broadcasts:
  - id: day1
    url: https://example.org/live
    start: 2026-05-01T10:00
    end: 2026-05-01T11:00
sessions:
  - id: opening
    broadcast: day1
    start: 2026-05-01T10:00:03
    end: 2026-05-01T10:00:11
    title: {en: "Opening", ko: "개회"}
    language: ko
  - id: keynote
    broadcast: day1
    start: 2026-05-01T10:00:38
    end: 2026-05-01T10:00:44
    title: "Keynote"
    language: en
  - id: panel
    broadcast: day1
    start: 2026-05-01T10:05
    end: 2026-05-01T10:06
    title: "Panel"
    language: en
"""


def test_cli_splits_reports_and_writes_chapters(recording: Recording, tmp_path: Path) -> None:
    schedule = tmp_path / "testcon.yaml"
    schedule.write_text(SCHEDULE, "utf-8")
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["split", str(recording.directory), "--schedule", str(schedule), "--out", str(out)]
    res = runner.invoke(app, [*args, "--mode", "copy"])
    assert res.exit_code == 5, res.output  # "panel" has no recording
    assert "ok opening" in res.output and "ok keynote" in res.output
    assert "missing panel: missing: no recording covers 10:05-10:06 KST" in res.output
    for name in ("opening.mp4", "opening.jpg", "opening.json", "keynote.mp4", "event.json"):
        assert (out / "testcon" / name).stat().st_size > 0
    assert not (out / "testcon" / "panel.mp4").exists()
    chapters = (out / "testcon" / "chapters-day1.txt").read_text("utf-8")
    assert chapters == "00:00 Opening\n00:03 개회\n00:38 Keynote\n"
    record = json.loads((out / "testcon" / "keynote.json").read_text())
    assert record["split_mode"] == "copy" and record["title"] == {"en": "Keynote"}

    again = runner.invoke(app, [*args, "--mode", "copy", "--session", "opening"])
    assert again.exit_code == 0, again.output
    assert "skipped opening" in again.output

    bad = runner.invoke(app, [*args, "--mode", "fast"])
    assert bad.exit_code != 0 and "exact or copy" in bad.output


def test_thumbnail_skips_black_frames(tmp_path: Path) -> None:
    video = tmp_path / "dark-start.mp4"
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
            "color=black:size=320x180:rate=25:duration=4[b];"
            "testsrc2=size=320x180:rate=25:duration=6[t];[b][t]concat=n=2:v=1:a=0",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(video),
        ],
        check=True, timeout=120,
    )  # fmt: skip
    jpg = tmp_path / "thumb.jpg"
    at = write_thumbnail(video, jpg, 10.0)
    assert at >= 4.0  # 10% (1 s), 20%, 30% are black; 50% is the first real picture
    stats = frame_stats(jpg, 0.0, tmp_path / "x.gray")
    assert stats is not None and not is_blank(stats)
    black = frame_stats(video, 1.0, tmp_path / "y.gray")
    assert black is not None and is_blank(black)
