"""A JPEG thumbnail that is not black (or flat).

A split normally takes it from the frames its head re-encode decodes anyway
(:func:`pick_sample`, fed by ``streamer.split.encode``). Without a head, or when those frames
are all blank, it is taken from the VOD a little in: every candidate time is sampled in one
ffmpeg run, each at the first keyframe from it on; a source whose keyframes are too far apart
for that is decoded exactly, one run per time.
"""

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
THUMB_WIDTH = 1280


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


def _sample(i: int, out: Path) -> tuple[Path, Path]:
    return out.with_name(f"{out.name}.{i}.gray"), out.with_name(f"{out.name}.{i}.jpg")


def _all_candidates_cmd(video: Path, times: list[float], out: Path, width: int) -> list[str]:
    """One ffmpeg run for every candidate: per time, a small grey sample and the JPEG.

    Each input decodes keyframes only, from the time on: the first keyframe at or after it, so
    a candidate costs one decoded frame, not up to a GOP (none when no keyframe follows).
    """
    outputs = []
    for i, at in enumerate(times):
        seek = {"ss": f"{at:.3f}"} if at > 0 else {}  # -ss 0 on a still image yields nothing
        # keyframes only, without frame threads decoding ahead, and no audio demuxed
        opts = {"noaccurate_seek": None, "threads": 1, "skip_frame": "nokey", "an": None}
        stream = ffmpeg.input(str(video), **opts, **seek).video
        gray, jpg = _sample(i, out)
        outputs.append(
            stream.filter("scale", SAMPLE_W, SAMPLE_H)
            .filter("format", "gray")
            .output(str(gray), f="rawvideo", **{"frames:v": 1})
        )
        outputs.append(
            stream.filter("scale", f"min({width},iw)", -2).output(
                str(jpg), f="image2", vcodec="mjpeg", **{"frames:v": 1, "q:v": 3}
            )
        )
    cmd: list[str] = (
        ffmpeg.merge_outputs(*outputs)
        .global_args("-nostdin", "-v", "error", "-y")
        .compile(cmd=procs.ffmpeg())
    )
    return cmd


def _stats(gray: Path, index: int = 0) -> tuple[float, float] | None:
    """(mean, stdev) of sample ``index`` in a file of grey samples; None if it is not there."""
    size = SAMPLE_W * SAMPLE_H
    try:
        data = gray.read_bytes()[index * size : (index + 1) * size]
    except OSError:
        return None
    if len(data) < size:
        return None
    values = list(data)
    return statistics.fmean(values), statistics.pstdev(values)


def pick_sample(gray: Path, jpgs: list[Path]) -> Path | None:
    """The last of ``jpgs`` (the furthest into the VOD) whose grey sample (same order, in
    ``gray``) is not blank; None when all are blank or missing."""
    for i in reversed(range(len(jpgs))):
        stats = _stats(gray, i)
        if stats is not None and not is_blank(stats) and jpgs[i].is_file():
            return jpgs[i]
    return None


def _keyframe_pick(times: list[float], out: Path) -> int | None:
    """The first candidate with a frame that is not blank; None when there is none, or when a
    candidate before the last had no keyframe to show (a long GOP: decode exactly instead)."""
    first: int | None = None
    missing = False
    for i in range(len(times)):
        stats = _stats(_sample(i, out)[0])
        if stats is None or not _sample(i, out)[1].exists():
            missing = True
            continue
        if not is_blank(stats):
            return i
        first = i if first is None else first
    return None if missing else first


def _exact(video: Path, out: Path, times: list[float], width: int) -> float:
    """The frame at each time decoded exactly, one run per time until one is not blank."""
    at = times[0]
    for t in times:
        stats = frame_stats(video, t, out.with_name(out.name + ".probe.gray"))
        if stats is not None and not is_blank(stats):
            at = t
            break
    seek = {"ss": f"{at:.3f}"} if at > 0 else {}
    cmd = (
        ffmpeg.input(str(video), **seek)
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
    procs.run(cmd, timeout=TIMEOUT_S)
    return at


def write_thumbnail(video: Path, out: Path, duration_s: float, width: int = THUMB_WIDTH) -> float:
    """Write ``out`` (JPEG, at most ``width`` wide) from the first candidate time whose frame is
    not black or flat (the first one otherwise); returns the time used."""
    times = candidates(duration_s)
    try:
        procs.run(_all_candidates_cmd(video, times, out, width), timeout=TIMEOUT_S)
        chosen = _keyframe_pick(times, out)
        if chosen is not None:
            _sample(chosen, out)[1].replace(out)
            at = times[chosen]
        else:
            at = _exact(video, out, times, width)
    except ToolError as exc:
        raise SplitError(f"thumbnail failed: {exc}") from exc
    finally:
        for i in range(len(times)):
            for f in _sample(i, out):
                f.unlink(missing_ok=True)
    if not out.exists() or out.stat().st_size == 0:
        raise SplitError(f"thumbnail failed: ffmpeg wrote nothing at {at:.1f}s")
    return at
