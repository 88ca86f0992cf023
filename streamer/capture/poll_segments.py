"""Keeping segments: download an entry, open a part or write a gap row as it requires, write
it, and try again segments lost to a passing error; resuming from what is on disk.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from streamer.capture import position
from streamer.capture.playlist import Entry, MediaPlaylist, looks_like_ts
from streamer.capture.poll_state import PollState
from streamer.capture.timeline import GAP_TOLERANCE_S, Timeline
from streamer.errors import CaptureError, FetchError

log = logging.getLogger(__name__)

MAX_REFILL_ATTEMPTS = 3


class SegmentKeeping(PollState):
    """The parts, gaps and segments of a recording's poll loop."""

    def _resume_state(self) -> None:
        # A crash can leave the temp file of the segment being written; it was never kept.
        for stray in self.out_dir.glob("part-*/.*.tmp"):
            with contextlib.suppress(OSError):
                stray.unlink()
        timeline = Timeline.load(self.out_dir)
        self.video_id = timeline.meta.get("video_id") or None
        if not timeline.segments:
            self.part = max(timeline.part_reasons, default=0)
            return
        self.resumed = True
        last_part = max(s.part for s in timeline.segments)
        self.part = max(last_part, *timeline.part_reasons) if timeline.part_reasons else last_part
        in_part = [s for s in timeline.segments if s.part == self.part]
        if in_part:
            last = max(in_part, key=lambda s: s.seq)
            self.cursor.last_seq, self.cursor.last_end = last.seq, last.end
        else:  # a part row was written but no segment: start that part afresh
            self.cursor.last_end = timeline.end

    async def _open_part(self, reason: str) -> None:
        assert self.writer is not None
        self.part += 1
        self.parts_opened += 1
        await self._write(self.writer.new_part, self.part, reason)
        log.info("%s: part %d (%s)", self.url, self.part, reason)

    async def _take(self, playlist: MediaPlaylist, index: int, fetched_at: datetime) -> bool:
        """Download and keep one entry. False when the playlist must be reloaded first."""
        assert self.writer is not None
        entry: Entry = playlist.entries[index]
        start = position.start_time(self.cursor, playlist, index, fetched_at)
        # The segment that straddles ``until`` is kept when most of it lies before.
        midpoint = start + timedelta(seconds=entry.duration / 2)
        if self.until is not None and midpoint >= self.until:
            self.until_seen = True
            return False
        if entry.discontinuity and self.cursor.last_end is not None:
            self.pending_part_reason = self.pending_part_reason or "discontinuity"
        try:
            data = await self._download(entry)
        except FetchError as exc:
            if exc.status in (403, 410):
                self._re_resolve(f"segment {entry.seq}: HTTP {exc.status}")
                return False
            return self._lost(entry, str(exc))
        except CaptureError as exc:
            return self._lost(entry, str(exc))
        if not looks_like_ts(data):
            log.warning("%s: segment %d is not MPEG-TS (%d bytes)", self.url, entry.seq, len(data))
            self.last_error = f"segment {entry.seq} is not MPEG-TS"
            return True
        await self._before_segment(entry, start)
        await self._keep(entry, data, start)
        self.cursor.last_seq = entry.seq
        self.cursor.last_end = start + timedelta(seconds=entry.duration)
        self.cursor.take_window = False
        self.last_new_at = self.clock.monotonic()
        self.extensions = 0
        self._progress()
        return True

    def _lost(self, entry: Entry, why: str) -> bool:
        log.warning("%s: segment %d lost: %s", self.url, entry.seq, why)
        self.last_error = f"segment {entry.seq}: {why}"
        self.missed.setdefault(entry.seq, 1)
        return True

    async def _keep(self, entry: Entry, data: bytes, start: datetime) -> None:
        assert self.writer is not None
        pdt = entry.pdt is not None
        await self._write(
            self.writer.write_segment, self.part, entry.seq, data, start, entry.duration, pdt
        )
        self.segments += 1
        self.bytes += len(data)

    async def _refill(self, playlist: MediaPlaylist, fetched_at: datetime) -> None:
        """Segments lost to a passing error are tried again while the playlist lists them."""
        if not self.missed or self.writer is None:
            return
        listed = {e.seq: i for i, e in enumerate(playlist.entries)}
        for seq in sorted(self.missed):
            index = listed.get(seq)
            healed = (self.out_dir / f"part-{self.part:03d}/{seq:010d}.ts").exists()
            if index is None or self.missed[seq] >= MAX_REFILL_ATTEMPTS or healed:
                del self.missed[seq]  # out of the window, not coming back, or healed meanwhile
                continue
            self.missed[seq] += 1
            entry = playlist.entries[index]
            try:
                data = await self._download(entry)
            except CaptureError:
                continue
            if not looks_like_ts(data):
                continue
            await self._keep(
                entry, data, position.start_time(self.cursor, playlist, index, fetched_at)
            )
            del self.missed[seq]
            log.info("%s: segment %d recovered", self.url, seq)

    async def _before_segment(self, entry: Entry, start: datetime) -> None:
        """Open a part and write a gap row as the next kept segment requires."""
        assert self.writer is not None
        if self.part == 0:
            self.pending_part_reason = None
            await self._open_part("start")
        elif self.pending_part_reason is not None:
            reason, self.pending_part_reason = self.pending_part_reason, None
            await self._open_part(reason)
        last_seq, last_end = self.cursor.last_seq, self.cursor.last_end
        if last_end is None:
            return
        hole = (start - last_end).total_seconds()
        if hole <= GAP_TOLERANCE_S:
            return
        if last_seq is not None and entry.seq > last_seq + 1:
            first, last = last_seq + 1, entry.seq - 1
            why = f"segment {first} missed" if first == last else f"segments {first}-{last} missed"
        else:
            why = f"no segments for {hole:.1f}s"
        await self._write(self.writer.gap, last_end, start, why)
        self.gaps += 1
