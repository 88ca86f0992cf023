"""Heal a recording: fill its gaps from the source's DVR (while live) or archive (after).

A gap is time the timeline does not cover between two segments, or, with ``from_start``,
before the first one back to the broadcast's start. For each gap:

1. Its wall-clock span is mapped to DASH fragment numbers by the fragments' own timing
   (``Ingestion-Walltime-Us`` and ``tfdt``): an estimate from the head fragment, corrected by
   the time each fetched fragment reports. HLS and DASH numbers are never assumed to agree.
2. Video and audio fragments are fetched (bounded, paced) and stream-copied into TS segments
   whose timestamps continue the neighbouring live segment's, one per fragment, numbered in
   the live HLS sequence so the healed run is one continuous run.
3. Each segment is written atomically and then its timeline row (``src: dvr|archive``); a heal
   interrupted at any point resumes from the timeline without duplicates.

What cannot be filled becomes a gap row with the reason (fragment gone, garbage, mux failure,
archive too short); a later heal may still fill it (the archive after the end).

This module runs one pass over a recording's holes; ``holes`` plans them, ``heal_dvr`` and
``heal_archive`` fill one, ``heal_state`` keeps what a pass learnt in ``recording.json``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamer.capture.dvr_fragments import DvrFragments
from streamer.capture.fragments import Adaptive, FragmentFetcher, FragmentGone
from streamer.capture.heal_archive import archive_end, heal_archive
from streamer.capture.heal_dvr import heal_dvr
from streamer.capture.heal_report import HealReport, describe
from streamer.capture.heal_segments import HealedSegments
from streamer.capture.heal_state import learnt_start, learnt_zero, save_heal_state
from streamer.capture.holes import DEFAULT_STEP_S, Hole, holes, plan
from streamer.capture.timeline import GAP_TOLERANCE_S, Timeline, TimelineWriter
from streamer.errors import CaptureError, StreamerError

__all__ = ["HealReport", "Healer", "Hole", "describe", "holes"]

log = logging.getLogger(__name__)

STRAY_AGE_S = 600.0  # a temp file untouched this long was left by a crash


class Healer:
    """Heals one recording directory from one broadcast URL."""

    def __init__(
        self,
        directory: Path,
        fetcher: FragmentFetcher,
        *,
        from_start: bool = False,
        fresh: bool = True,
        known_lost: Sequence[tuple[datetime, datetime, str]] = (),
        to_end: bool = False,
    ):
        self.directory = Path(directory)
        self.fetcher = fetcher
        self.from_start = from_start
        # True: nothing learnt by earlier heals is trusted (the broadcast may have ended);
        # the caller also makes the fetcher extract the info dict again
        self.fresh = fresh
        # spans an earlier heal of this broadcast found gone from the DVR (404): while live
        # they cannot come back, so they are not asked for (nor re-noted) until the end
        self.known_lost = list(known_lost)
        # also fill after the last segment to the source's end (post_live/was_live only): a
        # broadcast that ended before it was recorded, or whose recording stopped early
        self.to_end = to_end
        self.fragments = DvrFragments(fetcher)
        self.broadcast_start: datetime | None = None
        self._ref_pts: dict[str, float] = {}

    @property
    def zero(self) -> float | None:
        """Wall-clock (epoch s) of media time 0: learnt from the fragments, or kept."""
        return self.fragments.zero

    @zero.setter
    def zero(self, value: float | None) -> None:
        self.fragments.zero = value

    async def heal_once(self) -> HealReport:
        """Fill what the source holds now; the report lists what stays missing and why."""
        _sweep_strays(self.directory)
        report = HealReport()
        timeline = Timeline.load(self.directory)
        meta = timeline.meta
        zero = learnt_zero(meta)
        if zero is not None:
            self.zero = zero
        adaptive = await self.fetcher.current()
        report.status = adaptive.live_status
        if not adaptive.usable:
            why = f"the source offers no H.264+AAC adaptive formats ({adaptive.live_status})"
            report.remaining = [(h.start, h.end, why) for h in holes(timeline)]
            return report
        head_start = None
        if self.from_start:
            known = None if self.fresh else learnt_start(meta)
            if known is not None:
                head_start = known  # learnt by an earlier heal: no fetch
            else:
                head_start = await self._broadcast_start(adaptive)
        if head_start is not None:
            self.broadcast_start = head_start
        tail_end = None
        if self.to_end and adaptive.live_status in ("post_live", "was_live"):
            tail_end = await self._source_end(adaptive, head_start)
        step = adaptive.target_s or DEFAULT_STEP_S
        found = holes(timeline, head_start, tail_end, step)
        todo, lost = plan(found, () if self.fresh else self.known_lost)
        report.remaining.extend(lost)
        writer = TimelineWriter(self.directory)
        out = HealedSegments(self.directory, writer, report, self._ref_pts)
        # a hole whose heal failed (e.g. the source answered 503) may still be filled: this
        # pass has not settled it, so it does not count as seen (the session waits for it)
        unsettled: datetime | None = None
        try:
            for hole in todo:
                try:
                    if adaptive.archive:
                        missing = await heal_archive(hole, adaptive, self.zero, out)
                    else:
                        missing = await heal_dvr(
                            hole, adaptive, self.fragments, out, self.broadcast_start
                        )
                except StreamerError as exc:
                    missing = [(hole.start, hole.end, f"heal failed: {exc}")]
                    unsettled = hole.start if unsettled is None else min(unsettled, hole.start)
                for start, end, reason in missing:
                    if (end - start).total_seconds() > GAP_TOLERANCE_S:
                        writer.gap(start, end, reason)
                        report.remaining.append((start, end, reason))
            save_heal_state(
                self.directory,
                writer,
                timeline,
                report,
                zero=self.zero,
                broadcast_start=self.broadcast_start,
                unsettled=unsettled,
            )
        finally:
            writer.close()
        return report

    async def _source_end(self, adaptive: Adaptive, start: datetime | None) -> datetime | None:
        """Where the source's media ends: the head fragment's end, or the archive's."""
        if adaptive.archive:
            return await archive_end(adaptive, self.zero)
        step = adaptive.target_s or DEFAULT_STEP_S
        head = await self.fetcher.head()
        try:
            wall = await self.fragments.video_wall(head)
        except (FragmentGone, CaptureError):
            if start is None:
                return None
            # the head is not held: its number says where it ends; the walk gives the reason
            wall = start + timedelta(seconds=head * step)
        return wall + timedelta(seconds=step)

    async def _broadcast_start(self, adaptive: Adaptive) -> datetime | None:
        if adaptive.archive:
            if self.zero is not None:
                return datetime.fromtimestamp(self.zero, UTC)
            return adaptive.release_time
        try:
            return await self.fragments.video_wall(0)
        except (FragmentGone, CaptureError):
            return adaptive.release_time


def _sweep_strays(directory: Path) -> None:
    """Remove temp files a crash left mid-write. Only old ones: a live recorder (or another
    heal) writing beside this one has its own temp file open right now."""
    cutoff = time.time() - STRAY_AGE_S
    for stray in directory.glob("part-*/.*.tmp"):
        with contextlib.suppress(OSError):
            if stray.stat().st_mtime < cutoff:
                stray.unlink()
