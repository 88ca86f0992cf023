"""Heal one hole from the DVR (while live and ``post_live``): locate its first fragment by
time, fetch video and audio fragments in bounded batches, and mux each run of consecutive
ones (one ffmpeg run) into segments, the previous batch muxing while the next is fetched."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta

from streamer.capture import mux
from streamer.capture.dvr_fragments import DvrFragments, Frag
from streamer.capture.fragments import Adaptive
from streamer.capture.heal_report import fragment_reason, merge_spans
from streamer.capture.heal_segments import HealedSegments
from streamer.capture.holes import TOL_S, Hole, Span, hole_step
from streamer.capture.timeline import GAP_TOLERANCE_S
from streamer.errors import StreamerError

# Fragments fetched, then muxed by one ffmpeg run, at a time. Each run costs ffmpeg's start
# (about 0.1 CPU-s here, as much as muxing 30 small fragments), so batches grow to what
# MUX_BUDGET_BYTES holds once the fragments' size is known: 150 small ones, ~30 at 1080p.
BATCH = 30
MAX_BATCH = 150
MUX_BUDGET_BYTES = 48 * 1024 * 1024


async def heal_dvr(
    hole: Hole,
    adaptive: Adaptive,
    frags: DvrFragments,
    out: HealedSegments,
    broadcast_start: datetime | None,
) -> list[Span]:
    """Fill ``hole`` from the DVR; what it cannot fill, with why."""
    head = await frags.fetcher.head()
    step = adaptive.target_s or hole_step(hole)
    first = await frags.locate(hole.start, head, step, broadcast_start)
    missing: list[Span] = []
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
            *(frags.fetch_pair(n) for n in batch), return_exceptions=True
        )
        done = False
        fresh: list[Frag] = []
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
                            fragment_reason(result, n),
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
        writing = asyncio.create_task(_write_runs(hole, fresh, step, "dvr", frags, out))
        if done:
            break
        sq = batch[-1] + 1
    frags.forget()
    if writing is not None:
        await writing
    return merge_spans(missing) + _uncovered_tail(hole, got, step, head, missing)


def _uncovered_tail(
    hole: Hole, got: list[datetime], step: float, head: int, missing: list[Span]
) -> list[Span]:
    """Time after the newest fragment the source holds (the DVR has not caught up)."""
    ends = [wall + timedelta(seconds=step) for wall in got] + [e for _, e, _ in missing]
    covered_to = max(ends, default=hole.start)
    if (hole.end - covered_to).total_seconds() > GAP_TOLERANCE_S:
        return [(covered_to, hole.end, f"not in the source yet (head fragment {head})")]
    return []


async def _write_runs(
    hole: Hole,
    fetched: list[Frag],
    step: float,
    src: str,
    frags: DvrFragments,
    out: HealedSegments,
) -> None:
    """Mux each run of consecutive fragments (one ffmpeg run each) and write them."""
    runs: list[list[Frag]] = []
    for frag in fetched:
        if runs and frag.sq == runs[-1][-1].sq + 1:
            runs[-1].append(frag)
        else:
            runs.append([frag])
    for run in runs:
        video = run[0].video.init + b"".join(f.video.media for f in run)
        audio = run[0].audio.init + b"".join(f.audio.media for f in run)
        if not run[0].video.init or not run[0].audio.init:
            video = frags.inits["v"] + video
            audio = frags.inits["a"] + audio
        first_pts = await out.target_pts(hole, run[0].wall)
        datas = await asyncio.to_thread(
            mux.mux_fragments,
            video,
            audio,
            first_media_s=run[0].video.media_start,
            first_pts_s=first_pts,
            cuts=[f.video.media_start for f in run[1:]],
            workdir=out.directory,
        )
        for i, (frag, data) in enumerate(zip(run, datas, strict=True)):
            nxt = run[i + 1].wall if i + 1 < len(run) else None
            dur = (nxt - frag.wall).total_seconds() if nxt else step
            out.write(hole, frag.wall, dur, data, src)
