"""A JPEG thumbnail from a frame a little into the VOD that is not black (or flat)."""

from __future__ import annotations

import statistics
from pathlib import Path

import ffmpeg

from streamer import procs
from streamer.errors import SplitError, ToolError

TIMEOUT_S = 60.0
# Luma mean below this (of 0..255) reads as black; spread below FLAT_STDEV as a blank card.
DARK_MEAN = 24.0
FLAT_STDEV = 4.0
SAMPLE_W, SAMPLE_H = 32, 18


def candidates(duration_s: float) -> list[float]:
    """Seconds to try: 10% in (capped at 60 s), then later, then the start."""
    if duration_s <= 0:
        return [0.0]
    first = min(duration_s * 0.10, 60.0)
    later = [duration_s * f for f in (0.2, 0.3, 0.5, 0.7)]
    out = [first, *later, 0.0]
    return [round(t, 3) for t in out if t < duration_s]


def frame_stats(video: Path, at_s: float, scratch: Path) -> tuple[float, float] | None:
    """(mean, stdev) of the luma of a small grey copy of the frame at ``at_s``; None if none.

    The raw frame goes through ``scratch`` (procs returns text, not bytes).
    """
    seek = {"ss": f"{at_s:.3f}"} if at_s > 0 else {}  # -ss 0 on a still image yields nothing
    cmd = (
        ffmpeg.input(str(video), **seek)
        .output(
            str(scratch),
            vf=f"scale={SAMPLE_W}:{SAMPLE_H},format=gray",
            f="rawvideo",
            **{"frames:v": 1},
        )
        .global_args("-nostdin", "-v", "error", "-y")
        .compile(cmd=procs.ffmpeg())
    )
    try:
        procs.run(cmd, timeout=TIMEOUT_S)
        data = scratch.read_bytes()
    except (ToolError, OSError):
        return None
    finally:
        scratch.unlink(missing_ok=True)
    if len(data) < SAMPLE_W * SAMPLE_H:
        return None
    values = list(data[: SAMPLE_W * SAMPLE_H])
    return statistics.fmean(values), statistics.pstdev(values)


def is_blank(stats: tuple[float, float]) -> bool:
    mean, stdev = stats
    return mean < DARK_MEAN or stdev < FLAT_STDEV


def pick_time(video: Path, duration_s: float, scratch: Path) -> float:
    """The first candidate time whose frame is not black or flat; the first one otherwise."""
    times = candidates(duration_s)
    for at in times:
        stats = frame_stats(video, at, scratch)
        if stats is not None and not is_blank(stats):
            return at
    return times[0]


def write_thumbnail(video: Path, out: Path, duration_s: float, width: int = 1280) -> float:
    """Write ``out`` (JPEG, at most ``width`` wide); returns the time used."""
    at = pick_time(video, duration_s, out.with_name(out.name + ".probe.gray"))
    cmd = (
        ffmpeg.input(str(video), ss=f"{at:.3f}")
        .output(
            str(out),
            vf=f"scale='min({width},iw)':-2",
            f="image2",
            vcodec="mjpeg",
            **{"frames:v": 1, "q:v": 3},
        )
        .global_args("-nostdin", "-v", "error", "-y")
        .compile(cmd=procs.ffmpeg())
    )
    try:
        procs.run(cmd, timeout=TIMEOUT_S)
    except ToolError as exc:
        raise SplitError(f"thumbnail failed: {exc}") from exc
    if not out.exists() or out.stat().st_size == 0:
        raise SplitError(f"thumbnail failed: ffmpeg wrote nothing at {at:.1f}s")
    return at
