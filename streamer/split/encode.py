"""The ffmpeg runs that make a cut's parts: the head and tail re-encodes and the audio copy.

The head's run also offers a few of the frames it decodes anyway as the VOD's thumbnail (a
small grey sample and a JPEG each), so the thumbnail costs no ffmpeg run of its own.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from streamer import procs
from streamer.errors import SplitError, ToolError
from streamer.split.parts import LAND_S, Encode, PieceCut
from streamer.split.probe import PROTOCOLS, Packet
from streamer.split.thumbnail import SAMPLE_H, SAMPLE_W, THUMB_WIDTH

PROFILES = {
    "constrained baseline": "baseline",
    "baseline": "baseline",
    "main": "main",
    "high": "high",
    "high 10": "high10",
    "high 4:2:2": "high422",
    "high 4:4:4 predictive": "high444",
}


@dataclass(frozen=True)
class HeadSamples:
    """Head frames offered as the thumbnail: grey samples in ``gray`` (ascending frame order)
    and one JPEG each, ``jpg_pattern`` % 1.. in the same order."""

    indices: list[int]  # frame numbers in the head, ascending
    gray: Path
    jpg_pattern: str

    def jpg(self, k: int) -> Path:
        return Path(self.jpg_pattern % (k + 1))

    @staticmethod
    def for_head(frames: int, workdir: Path) -> HeadSamples | None:
        """The last, middle and first frame of the head (the last is the furthest in)."""
        if frames <= 0:
            return None
        indices = sorted({0, frames // 2, frames - 1})
        return HeadSamples(indices, workdir / "head-thumb.gray", str(workdir / "head-thumb-%d.jpg"))


def x264_args(cut: PieceCut, key: Packet) -> dict[str, Any]:
    """Encoder settings that make the re-encoded frames join the source's stream cleanly."""
    v = cut.info.video
    assert v is not None
    # the reorder delay (frames between DTS and PTS) must match, or DTS overlap at the joins
    delay = max(0, round((key.pts - key.dts) / v.frame_s))
    params = ["scenecut=0", "open-gop=0"]
    if delay == 0:
        bframes = 0
    elif delay == 1:
        bframes = 1
        params.append("b-pyramid=none")
    else:
        bframes = 3
        params.append("b-pyramid=normal")
    args: dict[str, Any] = {
        "c:v": "libx264",
        # a GOP or less at a high quality: ultrafast takes half the time of veryfast
        # (B-frames and pyramid are set explicitly, so the reorder delay still matches)
        "preset": "ultrafast",
        "crf": 16,
        "bf": bframes,
        "g": 100000,
        "pix_fmt": v.pix_fmt or "yuv420p",
        "x264-params": ":".join(params),
        "fps_mode": "passthrough",
        # a GOP or less: threads cost more to start than they save, and jobs run side by side
        "threads": 1,
    }
    profile = PROFILES.get((v.profile or "").lower())
    if profile:
        args["profile:v"] = profile
    if v.level:
        args["level"] = f"{v.level / 10:.1f}"
    if v.color_range in ("tv", "pc"):
        args["color_range"] = v.color_range
    for name, value in (
        ("colorspace", v.color_space),
        ("color_primaries", v.color_primaries),
        ("color_trc", v.color_transfer),
    ):
        if value and value != "unknown":
            args[name] = value
    if v.pid is not None:
        args["streamid"] = f"0:{v.pid}"
    return args


def encode_cmd(
    cut: PieceCut,
    enc: Encode,
    samples: HeadSamples | None = None,
    audio: tuple[float, float] | None = None,
) -> list[str]:
    """Decode from the keyframe, keep frames from ``enc.start`` on (by their own timestamps);
    with ``samples``, also write those frames' grey samples and JPEGs; with ``audio``, also
    copy the source's AAC frames whose pts lie in that range (seconds, source timeline)."""
    opts: dict[str, Any] = {
        "protocol_whitelist": PROTOCOLS,
        "noaccurate_seek": None,
        "threads": 1,
    }
    url = cut.url
    if enc.url is not None:  # from the keyframe's file on: a short seek by absolute time
        url = enc.url
        opts["seek_timestamp"] = 1
        opts["ss"] = f"{enc.from_key.dts + LAND_S:.6f}"
    elif (seek := enc.from_key.dts + LAND_S - cut.info.start) > 0:
        opts["ss"] = f"{seek:.6f}"
    quarter = (cut.info.video.frame_s if cut.info.video else 0.04) / 4
    # -copyts keeps the source's timestamps, so the trim is on absolute pts, whatever the seek
    inp = ffmpeg.input(url, **procs.fetched_input(opts))
    video = inp.video.filter("trim", start=f"{enc.start - quarter:.6f}")
    out_args = x264_args(cut, enc.from_key)
    out_args["f"] = "mpegts"
    streams = []
    if audio is None:
        out_args["frames:v"] = enc.frames
    else:
        # -frames:v would end the audio too (ffmpeg closes a file's streams together when one
        # has its count), so the video is counted by the filter and the audio ends by time
        video = video.filter("trim", end_frame=enc.frames)
        lo, hi = audio
        half = (cut.info.audio.frame_s if cut.info.audio else 0.02) / 2
        out_args.update(
            {
                "c:a": "copy",
                "bsf:a": f"noise=drop=lt(pts*tb\\,{lo - half:.6f})+gte(pts*tb\\,{hi - half:.6f})",
                "to": f"{hi + 0.5:.6f}",
            }
        )
        streams.append(inp["a:0"])
    if samples is None:
        outputs = [ffmpeg.output(video, *streams, str(enc.path), **out_args)]
    else:
        both = video.split()
        picked = (
            both[1]
            .filter("trim", end_frame=samples.indices[-1] + 1)
            .filter("select", "+".join(f"eq(n,{i})" for i in samples.indices))
            .split()
        )
        each = {"frames:v": len(samples.indices), "fps_mode": "passthrough"}
        outputs = [
            ffmpeg.output(both[0], *streams, str(enc.path), **out_args),
            picked[0]
            .filter("scale", SAMPLE_W, SAMPLE_H)
            .filter("format", "gray")
            .output(str(samples.gray), f="rawvideo", **each),
            picked[1]
            .filter("scale", f"min({THUMB_WIDTH},iw)", -2)
            .output(samples.jpg_pattern, f="image2", vcodec="mjpeg", **each, **{"q:v": 3}),
        ]
    cmd: list[str] = (
        ffmpeg.merge_outputs(*outputs)
        .global_args("-nostdin", "-v", "error", "-y", "-copyts")
        .compile(cmd=procs.ffmpeg())
    )
    if audio is not None and cut.info.audio is not None and cut.info.audio.pid is not None:
        at = cmd.index(str(enc.path))  # the same PID as the source's, for the join's concat
        cmd[at:at] = ["-streamid", f"1:{cut.info.audio.pid}"]
    return cmd


def audio_cmd(cut: PieceCut) -> list[str]:
    assert cut.audio is not None and cut.info.audio is not None
    # start on the AAC frame nearest the first video frame
    seek = cut.start - cut.info.start - cut.info.audio.frame_s / 2
    inp = ffmpeg.input(cut.url, **procs.fetched_input({"ss": f"{max(0.0, seek):.6f}"}))
    cmd: list[str] = (
        inp.output(
            str(cut.audio), map="0:a:0", acodec="copy", f="adts", **{"frames:a": cut.audio_frames}
        )
        .global_args("-nostdin", "-v", "error", "-y")
        .compile(cmd=procs.ffmpeg())
    )
    return cmd


def timeout(seconds: float) -> float:
    return 120.0 + seconds / 4


def run_all(jobs: list[tuple[list[str], float]]) -> None:
    """Run independent ffmpeg jobs, a few at a time (they are short and mostly I/O or tiny)."""
    if not jobs:
        return
    workers = min(len(jobs), max(1, min(3, os.cpu_count() or 1)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(procs.run, cmd, timeout=t) for cmd, t in jobs]
        errors: list[Exception] = []
        for fut in futures:
            try:
                fut.result()
            except ToolError as exc:
                errors.append(exc)
    if errors:
        raise SplitError(f"cutting a part failed: {errors[0]}") from errors[0]
