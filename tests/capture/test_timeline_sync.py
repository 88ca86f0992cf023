"""The timeline's durability policy: a segment's file is synced before its row is written;
segment rows are synced at most every ``sync_interval_s``, other rows at once, and on close."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

import streamer.capture.timeline_writer as timeline_writer
from streamer.capture.timeline import TIMELINE, Timeline, TimelineWriter

TS = b"\x47" + b"\x00" * 187
START = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def test_rows_follow_durable_files_and_are_synced_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real = os.fdatasync
    timeline_path = tmp_path / TIMELINE

    def spy(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        rows = timeline_path.read_text().count("\n") if timeline_path.exists() else 0
        events.append(f"timeline@{rows}" if name == str(timeline_path) else f"file@{rows}")
        real(fd)

    monkeypatch.setattr(timeline_writer.os, "fdatasync", spy)
    now = [0.0]
    writer = TimelineWriter(tmp_path, sync_interval_s=5.0, clock=lambda: now[0])
    writer.new_part(1, "start")  # a structural row: synced at once
    for seq in range(6):
        now[0] = float(seq)
        writer.write_segment(1, seq, TS, START, 1.0, True)
    writer.gap(START, START, "x")  # synced at once, with the segment rows before it
    writer.write_segment(1, 9, TS, START, 1.0, True)
    writer.close()  # syncs the last, lazy row

    # each file is synced while the timeline still has no row for it
    assert events == [
        "timeline@1",  # the part row
        "file@1", "file@2", "file@3", "file@4", "file@5", "file@6",
        "timeline@7",  # the 6th segment's row: 5 s after the last sync
        "timeline@8",  # the gap row
        "file@8",
        "timeline@9",  # close
    ]  # fmt: skip
    timeline = Timeline.load(tmp_path)
    assert [s.seq for s in timeline.segments] == [0, 1, 2, 3, 4, 5, 9]
    assert not list(tmp_path.glob("part-*/.*.tmp"))  # no temp file left behind


def test_without_an_interval_every_row_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(timeline_writer.os, "fdatasync", lambda fd: (calls.append(fd), real(fd)))
    with TimelineWriter(tmp_path) as writer:
        writer.write_segment(1, 1, TS, START, 1.0, True)
        writer.write_segment(1, 2, TS, START, 1.0, True)
    assert len(calls) == 4  # two files, two rows
