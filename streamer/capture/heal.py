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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streamer import procs
from streamer.capture import fmp4, mux
from streamer.capture.fragments import Adaptive, FragmentFetcher, FragmentGone
from streamer.capture.timeline import GAP_TOLERANCE_S, Segment, Timeline, TimelineWriter
from streamer.errors import CaptureError, StreamerError
from streamer.timeutil import iso, now, parse_iso

log = logging.getLogger(__name__)

# Fragments fetched, then muxed by one ffmpeg run, at a time. Each run costs ffmpeg's start
# (about 0.1 CPU-s here, as much as muxing 30 small fragments), so batches grow to what
# MUX_BUDGET_BYTES holds once the fragments' size is known: 150 small ones, ~30 at 1080p.
BATCH = 30
MAX_BATCH = 150
MUX_BUDGET_BYTES = 48 * 1024 * 1024
LOCATE_STEPS = 8
TOL_S = 0.25
ARCHIVE_CHUNK = 150  # archive segments muxed by one ffmpeg run (5 minutes of 2 s ones)
STRAY_AGE_S = 600.0  # a temp file untouched this long was left by a crash


@dataclass(frozen=True)
class Hole:
    start: datetime
    end: datetime
    part: int
    prev: Segment | None
    next: Segment | None
    step: float | None = None  # segment length when there is no neighbour to take it from

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class HealReport:
    healed_s: float = 0.0
    segments: int = 0
    by_source: dict[str, float] = field(default_factory=lambda: {"dvr": 0.0, "archive": 0.0})
    remaining: list[tuple[datetime, datetime, str]] = field(default_factory=list)
    status: str | None = None  # the source's live_status at the heal
    skipped: bool = False  # nothing to heal: the source was not asked

    @property
    def complete(self) -> bool:
        return not self.remaining


@dataclass
class _Frag:
    sq: int
    wall: datetime
    video: fmp4.Fragment
    audio: fmp4.Fragment


def holes(
    timeline: Timeline,
    head_start: datetime | None = None,
    tail_end: datetime | None = None,
    step: float | None = None,
) -> list[Hole]:
    """Uncovered time between segments, before the first back to ``head_start``, and after
    the last up to ``tail_end`` (the source's end: a broadcast recorded after it ended)."""
    segs = timeline.segments
    out: list[Hole] = []
    if not segs:
        if head_start is None or tail_end is None:
            return out
        if (tail_end - head_start).total_seconds() > GAP_TOLERANCE_S:
            out.append(Hole(head_start, tail_end, 1, None, None, step))
        return out
    if head_start is not None and (segs[0].start - head_start).total_seconds() > GAP_TOLERANCE_S:
        out.append(Hole(head_start, segs[0].start, segs[0].part, None, segs[0]))
    covered = segs[0]
    for seg in segs[1:]:
        if (seg.start - covered.end).total_seconds() > GAP_TOLERANCE_S:
            part = covered.part if covered.part == seg.part else seg.part
            prev = covered if covered.part == part else None
            out.append(Hole(covered.end, seg.start, part, prev, seg))
        if seg.end > covered.end:
            covered = seg
    if tail_end is not None and (tail_end - covered.end).total_seconds() > GAP_TOLERANCE_S:
        out.append(Hole(covered.end, tail_end, covered.part, covered, None))
    return out


def _wall(frag: fmp4.Fragment, zero: float | None) -> datetime:
    if frag.wall_us is not None:
        return datetime.fromtimestamp(frag.wall_us / 1e6, UTC)
    if zero is None:
        raise CaptureError(f"fragment {frag.sq}: no Ingestion-Walltime-Us and no time anchor")
    return datetime.fromtimestamp(zero + frag.media_start, UTC)


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
        self.zero: float | None = None  # wall-clock (epoch s) of media time 0
        self.broadcast_start: datetime | None = None
        self._ref_pts: dict[str, float] = {}
        self._cache: dict[int, bytes] = {}
        self._inits: dict[str, bytes] = {}

    # ---- entry -------------------------------------------------------------------------

    async def heal_once(self) -> HealReport:
        """Fill what the source holds now; the report lists what stays missing and why."""
        _sweep_strays(self.directory)
        report = HealReport()
        timeline = Timeline.load(self.directory)
        meta = timeline.meta
        if isinstance(meta.get("stream_zero"), int | float):
            self.zero = float(meta["stream_zero"])
        adaptive = await self.fetcher.current()
        report.status = adaptive.live_status
        if not adaptive.usable:
            why = f"the source offers no H.264+AAC adaptive formats ({adaptive.live_status})"
            report.remaining = [(h.start, h.end, why) for h in holes(timeline)]
            return report
        head_start = None
        if self.from_start:
            known = meta.get("broadcast_start")
            if isinstance(known, str) and not self.fresh:
                head_start = parse_iso(known)  # learnt by an earlier heal: no fetch
            else:
                head_start = await self._broadcast_start(adaptive)
        if head_start is not None:
            self.broadcast_start = head_start
        tail_end = None
        if self.to_end and adaptive.live_status in ("post_live", "was_live"):
            tail_end = await self._source_end(adaptive, head_start)
        step = adaptive.target_s or _Default.duration
        todo = []
        for hole in holes(timeline, head_start, tail_end, step):
            lost = self._lost(hole)
            if lost is None:
                todo.append(hole)
            else:
                report.remaining.append((hole.start, hole.end, lost))
        writer = TimelineWriter(self.directory)
        # a hole whose heal failed (e.g. the source answered 503) may still be filled: this
        # pass has not settled it, so it does not count as seen (the session waits for it)
        unsettled: datetime | None = None
        try:
            for hole in todo:
                try:
                    if adaptive.archive:
                        missing = await self._heal_archive(hole, adaptive, writer, report)
                    else:
                        missing = await self._heal_dvr(hole, adaptive, writer, report)
                except StreamerError as exc:
                    missing = [(hole.start, hole.end, f"heal failed: {exc}")]
                    unsettled = hole.start if unsettled is None else min(unsettled, hole.start)
                for start, end, reason in missing:
                    if (end - start).total_seconds() > GAP_TOLERANCE_S:
                        writer.gap(start, end, reason)
                        report.remaining.append((start, end, reason))
            self._save_meta(writer, timeline, report, unsettled)
        finally:
            writer.close()
        return report

    def _lost(self, hole: Hole) -> str | None:
        """The reason, when ``hole`` lies within a span already known lost."""
        if self.fresh:
            return None
        tol = timedelta(seconds=TOL_S)
        for start, end, reason in self.known_lost:
            if start - tol <= hole.start and hole.end <= end + tol:
                return reason
        return None

    def _save_meta(
        self,
        writer: TimelineWriter,
        timeline: Timeline,
        report: HealReport,
        unsettled: datetime | None = None,
    ) -> None:
        meta = dict(Timeline.load(self.directory).meta or timeline.meta)
        if self.zero is not None:
            meta["stream_zero"] = self.zero
        if self.broadcast_start is not None:
            meta["broadcast_start"] = iso(self.broadcast_start)
        final = report.status == "was_live" or (report.status == "post_live" and report.complete)
        stamp = iso(now())
        before = meta.get("heal")
        # when a heal last added media: what was cut before then is cut again (the service)
        filled = before.get("filled_at") if isinstance(before, dict) else None
        if report.segments:
            filled = stamp
        seen = timeline.end
        if seen is not None and unsettled is not None:
            seen = min(seen, unsettled)
        meta["heal"] = {
            "at": stamp,
            "filled_at": filled,
            "source_status": report.status,
            "remaining_s": round(sum((e - s).total_seconds() for s, e, _ in report.remaining), 3),
            "final": bool(final),
            # the timeline's end when this pass began: it tried every hole before it (up to
            # the first hole it failed on, which a later pass must try again)
            "seen_until": iso(seen) if seen is not None else None,
        }
        writer.write_meta(meta)

    async def _source_end(self, adaptive: Adaptive, start: datetime | None) -> datetime | None:
        """Where the source's media ends: the head fragment's end, or the archive's."""
        if adaptive.archive:
            assert adaptive.video_url is not None
            zero = self.zero
            if zero is None and adaptive.release_time is not None:
                zero = adaptive.release_time.timestamp()
            if zero is None:
                return None
            length = await asyncio.to_thread(_duration, adaptive.video_url)
            return datetime.fromtimestamp(zero + length, UTC)
        step = adaptive.target_s or _Default.duration
        head = await self.fetcher.head()
        try:
            wall = _wall(await self._video(head), self.zero)
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
            return _wall(await self._video(0), self.zero)
        except (FragmentGone, CaptureError):
            return adaptive.release_time

    # ---- fragments ---------------------------------------------------------------------

    async def _video(self, sq: int) -> fmp4.Fragment:
        data = self._cache.get(sq)
        if data is None:
            data = await self.fetcher.fetch("v", sq)
            self._cache[sq] = data
        frag = self._parse("v", sq, data)
        if frag.wall_us is not None:
            self.zero = frag.wall_us / 1e6 - frag.media_start
        return frag

    def _parse(self, kind: str, sq: int, data: bytes) -> fmp4.Fragment:
        try:
            frag = fmp4.parse(data, self._inits.get(kind))
        except CaptureError as exc:
            raise CaptureError(
                f"{'video' if kind == 'v' else 'audio'} fragment {sq}: not a media fragment ({exc})"
            ) from exc
        if frag.init:
            self._inits[kind] = frag.init
        return frag

    async def _locate(self, at: datetime, head: int, step_s: float) -> int:
        """The fragment whose span holds ``at`` (by the fragments' own times)."""
        try:
            head_wall = _wall(await self._video(head), self.zero)
        except FragmentGone:
            if self.broadcast_start is None:
                raise
            # the head is not held (a DVR that dropped it): place it by its number
            head_wall = self.broadcast_start + timedelta(seconds=head * step_s)
        sq = max(0, head - round((head_wall - at).total_seconds() / step_s))
        for _ in range(LOCATE_STEPS):
            try:
                wall = _wall(await self._video(sq), self.zero)
            except FragmentGone:
                return sq  # not held: the walk below reports it with its reason
            off = (at - wall).total_seconds()
            if off < -TOL_S and sq > 0:
                sq = max(0, sq - max(1, round(-off / step_s)))
            elif off >= step_s - TOL_S and sq < head:
                sq = min(head, sq + max(1, round(off / step_s)))
            else:
                return sq
        return sq

    async def _fetch_pair(self, sq: int) -> _Frag:
        video = await self._video(sq)
        audio = self._parse("a", sq, await self.fetcher.fetch("a", sq))
        self._cache.pop(sq, None)
        return _Frag(sq, _wall(video, self.zero), video, audio)

    async def _heal_dvr(
        self, hole: Hole, adaptive: Adaptive, writer: TimelineWriter, report: HealReport
    ) -> list[tuple[datetime, datetime, str]]:
        head = await self.fetcher.head()
        step = adaptive.target_s or _step(hole)
        first = await self._locate(hole.start, head, step)
        missing: list[tuple[datetime, datetime, str]] = []
        got: list[datetime] = []  # the fetched fragments' times (their bytes go to the mux)
        writing: asyncio.Task[None] | None = None
        size = BATCH
        sq = first
        # the fragments the hole should take, plus one: more only if their times say so
        limit = min(head, first + math.ceil(hole.duration_s / step) + 1)
        while sq <= head:
            if sq > limit:
                limit = min(head, limit + 4)
            batch = list(range(sq, min(limit, sq + size - 1) + 1))
            results = await asyncio.gather(
                *(self._fetch_pair(n) for n in batch), return_exceptions=True
            )
            done = False
            fresh: list[_Frag] = []
            for n, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    if not isinstance(result, StreamerError):
                        raise result
                    est = hole.start + timedelta(seconds=(n - first) * step)
                    if est < hole.end:
                        missing.append(
                            (
                                max(est, hole.start),
                                min(est + timedelta(seconds=step), hole.end),
                                _reason(result, n),
                            )
                        )
                    continue
                if result.wall >= hole.end - timedelta(seconds=TOL_S):
                    done = True
                    break
                if result.wall + timedelta(seconds=step) > hole.start + timedelta(seconds=TOL_S):
                    fresh.append(result)
            got += [f.wall for f in fresh]
            if fresh:
                per = sum(len(f.video.media) + len(f.audio.media) for f in fresh) / len(fresh)
                size = max(BATCH, min(MAX_BATCH, int(MUX_BUDGET_BYTES // max(per, 1.0))))
            # mux this batch while the next one is fetched (one ffmpeg at a time, in order)
            if writing is not None:
                await writing
            writing = asyncio.create_task(
                self._write_runs(hole, fresh, step, "dvr", writer, report)
            )
            if done:
                break
            sq = batch[-1] + 1
        self._cache.clear()
        if writing is not None:
            await writing
        return _merge(missing) + self._uncovered_tail(hole, got, step, head, missing)

    def _uncovered_tail(
        self,
        hole: Hole,
        got: list[datetime],
        step: float,
        head: int,
        missing: list[tuple[datetime, datetime, str]],
    ) -> list[tuple[datetime, datetime, str]]:
        """Time after the newest fragment the source holds (the DVR has not caught up)."""
        ends = [wall + timedelta(seconds=step) for wall in got] + [e for _, e, _ in missing]
        covered_to = max(ends, default=hole.start)
        if (hole.end - covered_to).total_seconds() > GAP_TOLERANCE_S:
            return [(covered_to, hole.end, f"not in the source yet (head fragment {head})")]
        return []

    async def _write_runs(
        self,
        hole: Hole,
        frags: list[_Frag],
        step: float,
        src: str,
        writer: TimelineWriter,
        report: HealReport,
    ) -> None:
        """Mux each run of consecutive fragments (one ffmpeg run each) and write them."""
        runs: list[list[_Frag]] = []
        for frag in frags:
            if runs and frag.sq == runs[-1][-1].sq + 1:
                runs[-1].append(frag)
            else:
                runs.append([frag])
        for run in runs:
            video = run[0].video.init + b"".join(f.video.media for f in run)
            audio = run[0].audio.init + b"".join(f.audio.media for f in run)
            if not run[0].video.init or not run[0].audio.init:
                video = self._inits["v"] + video
                audio = self._inits["a"] + audio
            first_pts = await self._target_pts(hole, run[0].wall)
            datas = await asyncio.to_thread(
                mux.mux_fragments,
                video,
                audio,
                first_media_s=run[0].video.media_start,
                first_pts_s=first_pts,
                cuts=[f.video.media_start for f in run[1:]],
                workdir=self.directory,
            )
            for i, (frag, data) in enumerate(zip(run, datas, strict=True)):
                nxt = run[i + 1].wall if i + 1 < len(run) else None
                dur = (nxt - frag.wall).total_seconds() if nxt else step
                self._write(hole, frag.wall, dur, data, src, writer, report)

    def _write(
        self,
        hole: Hole,
        start: datetime,
        dur: float,
        data: bytes,
        src: str,
        writer: TimelineWriter,
        report: HealReport,
    ) -> None:
        seq = _seq_for(hole, start)
        writer.write_segment(hole.part, seq, data, start, round(dur, 6), True, src)
        report.segments += 1
        report.healed_s += dur
        report.by_source[src] = report.by_source.get(src, 0.0) + dur

    async def _target_pts(self, hole: Hole, wall: datetime) -> float:
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

    # ---- the archive -------------------------------------------------------------------

    async def _heal_archive(
        self, hole: Hole, adaptive: Adaptive, writer: TimelineWriter, report: HealReport
    ) -> list[tuple[datetime, datetime, str]]:
        assert adaptive.video_url is not None and adaptive.audio_url is not None
        zero = self.zero
        if zero is None and adaptive.release_time is not None:
            zero = adaptive.release_time.timestamp()
        if zero is None:
            return [(hole.start, hole.end, "archive: no time anchor for the broadcast")]
        length = await asyncio.to_thread(_duration, adaptive.video_url)
        step = _step(hole)
        count = max(1, round(hole.duration_s / step))
        step = hole.duration_s / count
        starts = [hole.start + timedelta(seconds=i * step) for i in range(count)]
        fits = [s for s in starts if s.timestamp() - zero + step <= length + TOL_S]
        missing: list[tuple[datetime, datetime, str]] = []
        if len(fits) < count:
            cut = fits[-1] + timedelta(seconds=step) if fits else hole.start
            missing.append(
                (cut, hole.end, f"archive ends at {length:.1f}s: shorter than the broadcast")
            )
        if not fits:
            return missing
        # one ffmpeg run per ARCHIVE_CHUNK segments: a whole broadcast recorded from the
        # archive is never held in memory at once
        for i in range(0, len(fits), ARCHIVE_CHUNK):
            chunk = fits[i : i + ARCHIVE_CHUNK]
            t0 = chunk[0].timestamp() - zero
            first_pts = await self._target_pts(hole, chunk[0])
            datas = await asyncio.to_thread(
                mux.mux_ranges,
                adaptive.video_url,
                adaptive.audio_url,
                start_s=t0,
                end_s=t0 + step * len(chunk),
                first_pts_s=first_pts,
                cuts=[t0 + step * j for j in range(1, len(chunk))],
                workdir=self.directory,
            )
            for start, data in zip(chunk, datas, strict=False):
                self._write(hole, start, step, data, "archive", writer, report)
            if len(datas) < len(chunk):
                cut = chunk[len(datas)]
                end = fits[-1] + timedelta(seconds=step)
                why = f"archive ends at {length:.1f}s: shorter than the broadcast"
                missing = [(cut, end, why)] + [m for m in missing if m[0] >= end]
                missing = _merge(missing) if len(missing) > 1 else missing
                break
        return missing


def _sweep_strays(directory: Path) -> None:
    """Remove temp files a crash left mid-write. Only old ones: a live recorder (or another
    heal) writing beside this one has its own temp file open right now."""
    cutoff = time.time() - STRAY_AGE_S
    for stray in directory.glob("part-*/.*.tmp"):
        with contextlib.suppress(OSError):
            if stray.stat().st_mtime < cutoff:
                stray.unlink()


class _Default:
    duration = 2.0


def _step(hole: Hole) -> float:
    ref = hole.prev or hole.next
    return ref.duration if ref is not None else (hole.step or _Default.duration)


def _duration(url: str) -> float:
    result = procs.run(
        [procs.ffprobe(), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url],
        timeout=60,
    )
    try:
        return float(result.stdout.strip())
    except ValueError as exc:
        raise CaptureError(f"archive: no duration ({result.stdout.strip()!r})") from exc


def _seq_for(hole: Hole, start: datetime) -> int:
    """The live HLS number of the segment at ``start``: continues the neighbour's numbering."""
    if hole.prev is not None:
        return (
            hole.prev.seq + 1 + round((start - hole.prev.end).total_seconds() / hole.prev.duration)
        )
    if hole.next is None:  # nothing recorded yet: number from the hole's start
        return round((start - hole.start).total_seconds() / _step(hole))
    return hole.next.seq - round((hole.next.start - start).total_seconds() / hole.next.duration)


def _reason(exc: BaseException, sq: int) -> str:
    if isinstance(exc, FragmentGone):
        if exc.status == 404:
            return f"dvr: fragment {sq} is not held any more (HTTP 404)"
        return f"dvr: fragment {sq}: HTTP {exc.status}"
    return f"dvr: {exc}"


def _merge(spans: list[tuple[datetime, datetime, str]]) -> list[tuple[datetime, datetime, str]]:
    """Adjacent spans with the same kind of reason become one (first and last fragment named)."""
    out: list[tuple[datetime, datetime, str]] = []
    for start, end, reason in sorted(spans):
        if (
            out
            and abs((start - out[-1][1]).total_seconds()) <= TOL_S
            and _kind(reason) == _kind(out[-1][2])
        ):
            first = out[-1][2]
            out[-1] = (out[-1][0], end, _span_reason(first, reason))
        else:
            out.append((start, end, reason))
    return out


def _kind(reason: str) -> str:
    return re.sub(r"fragments? [\d-]+( is| are)?", "fragment", reason)


def _span_reason(first: str, last: str) -> str:
    a = re.search(r"fragments? (\d+)(?:-(\d+))?", first)
    b = re.search(r"fragments? (\d+)", last)
    if a is None or b is None:
        return first
    joined = first[: a.start()] + f"fragments {a.group(1)}-{b.group(1)}" + first[a.end() :]
    return joined.replace(" is not held", " are not held")


def describe(report: HealReport, tz: Any = UTC) -> list[str]:
    """Lines for people: what was healed and what stays missing, with why."""
    if report.skipped:
        return ["nothing to heal: no gaps"]
    lines = [
        f"healed {report.healed_s:.1f}s in {report.segments} segment(s) "
        f"(dvr {report.by_source.get('dvr', 0.0):.1f}s, "
        f"archive {report.by_source.get('archive', 0.0):.1f}s); source {report.status}"
    ]
    for start, end, reason in report.remaining:
        lines.append(
            f"missing {iso(start, tz)} .. {iso(end, tz)} "
            f"({(end - start).total_seconds():.1f}s): {reason}"
        )
    if not report.remaining:
        lines.append("nothing missing")
    return lines
