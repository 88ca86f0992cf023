"""Which segments a loaded timeline keeps: those whose file is there (a folder listing per
part, not a stat per segment), or every row with ``files=False``."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamer.capture.timeline import Timeline, TimelineWriter

TS = b"\x47" + b"\x00" * 187
START = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _recording(root: Path) -> list[Path]:
    writer = TimelineWriter(root)
    writer.new_part(1, "start")
    for seq in range(4):
        writer.write_segment(1, seq, TS, START + timedelta(seconds=seq), 1.0, True)
    writer.new_part(2, "sequence reset")
    for seq in range(2):
        writer.write_segment(2, seq, TS, START + timedelta(seconds=10 + seq), 1.0, True)
    writer.close()
    return [root / s.file for s in Timeline.load(root).segments]


def test_segments_without_a_file_are_left_out_unless_rows_alone_are_asked(tmp_path: Path) -> None:
    files = _recording(tmp_path)
    assert len(files) == 6 and len({f.parent for f in files}) == 2
    files[1].unlink()  # deleted
    target = files[2].with_name("elsewhere.ts")
    files[2].rename(target)
    files[2].symlink_to(target.name)  # a symlink to a file counts
    files[4].unlink()
    files[4].symlink_to("gone.ts")  # a dangling one does not
    os.mkdir(tmp_path / "part-009")  # a folder no row names changes nothing

    kept = Timeline.load(tmp_path)
    assert [(s.part, s.seq) for s in kept.segments] == [(1, 0), (1, 2), (1, 3), (2, 1)]
    rows = Timeline.load(tmp_path, files=False)
    assert len(rows.segments) == 6


def test_a_missing_part_folder_drops_its_segments(tmp_path: Path) -> None:
    files = _recording(tmp_path)
    second = files[-1].parent
    for f in second.iterdir():
        f.unlink()
    second.rmdir()
    assert [s.part for s in Timeline.load(tmp_path).segments] == [1, 1, 1, 1]
