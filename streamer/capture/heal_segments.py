"""Healed segments into the timeline: each numbered and timestamped to continue the live
neighbours of its hole, written atomically with its row, and counted in the report."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from streamer.capture import mux
from streamer.capture.heal_report import HealReport
from streamer.capture.holes import Hole, seq_for
from streamer.capture.timeline import TimelineWriter


class HealedSegments:
    def __init__(
        self,
        directory: Path,
        writer: TimelineWriter,
        report: HealReport,
        ref_pts: dict[str, float],
    ) -> None:
        self.directory = directory
        self.writer = writer
        self.report = report
        self._ref_pts = ref_pts  # the first video PTS of each neighbour file, once probed

    def write(self, hole: Hole, start: datetime, dur: float, data: bytes, src: str) -> None:
        seq = seq_for(hole, start)
        self.writer.write_segment(hole.part, seq, data, start, round(dur, 6), True, src)
        self.report.segments += 1
        self.report.healed_s += dur
        self.report.by_source[src] = self.report.by_source.get(src, 0.0) + dur

    async def target_pts(self, hole: Hole, wall: datetime) -> float:
        """The PTS a frame shown at ``wall`` must carry to continue the live neighbours."""
        ref = hole.prev or hole.next
        if ref is None:  # nothing recorded: the hole's own start is time 10 s
            return 10.0 + (wall - hole.start).total_seconds()
        key = ref.file
        if key not in self._ref_pts:
            self._ref_pts[key] = await asyncio.to_thread(
                mux.first_video_pts, self.directory / ref.file
            )
        return self._ref_pts[key] + (wall - ref.start).total_seconds()
