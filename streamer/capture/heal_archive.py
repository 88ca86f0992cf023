"""Heal from the processed archive (``was_live``): whole video and audio files, cut by time
(ffmpeg reads ranges of them) into segments that continue the live neighbours."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from streamer import procs
from streamer.capture import mux
from streamer.capture.fragments import Adaptive
from streamer.capture.heal_report import merge_spans
from streamer.capture.heal_segments import HealedSegments
from streamer.capture.holes import TOL_S, Hole, Span, hole_step
from streamer.errors import CaptureError

ARCHIVE_CHUNK = 150  # archive segments muxed by one ffmpeg run (5 minutes of 2 s ones)


def archive_zero(zero: float | None, adaptive: Adaptive) -> float | None:
    """Wall-clock (epoch s) of the archive's time 0: the media's, else the release time."""
    if zero is None and adaptive.release_time is not None:
        zero = adaptive.release_time.timestamp()
    return zero


async def archive_end(adaptive: Adaptive, zero: float | None) -> datetime | None:
    """Where the archive's media ends, in wall-clock time (None: no time anchor)."""
    assert adaptive.video_url is not None
    zero = archive_zero(zero, adaptive)
    if zero is None:
        return None
    length = await asyncio.to_thread(archive_duration, adaptive.video_url)
    return datetime.fromtimestamp(zero + length, UTC)


def archive_duration(url: str) -> float:
    result = procs.run(
        [procs.ffprobe(), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url],
        timeout=60,
    )
    try:
        return float(result.stdout.strip())
    except ValueError as exc:
        raise CaptureError(f"archive: no duration ({result.stdout.strip()!r})") from exc


async def heal_archive(
    hole: Hole, adaptive: Adaptive, zero: float | None, out: HealedSegments
) -> list[Span]:
    """Fill ``hole`` from the archive; what it cannot fill, with why."""
    assert adaptive.video_url is not None and adaptive.audio_url is not None
    zero = archive_zero(zero, adaptive)
    if zero is None:
        return [(hole.start, hole.end, "archive: no time anchor for the broadcast")]
    length = await asyncio.to_thread(archive_duration, adaptive.video_url)
    step = hole_step(hole)
    count = max(1, round(hole.duration_s / step))
    step = hole.duration_s / count
    starts = [hole.start + timedelta(seconds=i * step) for i in range(count)]
    fits = [s for s in starts if s.timestamp() - zero + step <= length + TOL_S]
    missing: list[Span] = []
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
        first_pts = await out.target_pts(hole, chunk[0])
        datas = await asyncio.to_thread(
            mux.mux_ranges,
            adaptive.video_url,
            adaptive.audio_url,
            start_s=t0,
            end_s=t0 + step * len(chunk),
            first_pts_s=first_pts,
            cuts=[t0 + step * j for j in range(1, len(chunk))],
            workdir=out.directory,
        )
        for start, data in zip(chunk, datas, strict=False):
            out.write(hole, start, step, data, "archive")
        if len(datas) < len(chunk):
            cut = chunk[len(datas)]
            end = fits[-1] + timedelta(seconds=step)
            why = f"archive ends at {length:.1f}s: shorter than the broadcast"
            missing = [(cut, end, why)] + [m for m in missing if m[0] >= end]
            missing = merge_spans(missing) if len(missing) > 1 else missing
            break
    return missing
