"""ffprobe, as split needs it: stream layout, video packets near a cut, and the finished file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from streamer import procs
from streamer.errors import SplitError, ToolError

# Inputs are byte-joined segments (concat/concatf/subfile protocols over local files).
PROTOCOLS = "file,concat,concatf,subfile"
PROBE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    profile: str | None
    level: int | None
    pix_fmt: str | None
    width: int
    height: int
    fps: Fraction
    has_b_frames: int
    pid: int | None
    start: float  # first pts (s)
    sar: str | None = None
    color_range: str | None = None
    color_space: str | None = None
    color_primaries: str | None = None
    color_transfer: str | None = None

    @property
    def frame_s(self) -> float:
        return float(1 / self.fps)


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    pid: int | None
    start: float

    @property
    def frame_s(self) -> float:
        """One AAC frame (1024 samples)."""
        return 1024 / self.sample_rate


@dataclass(frozen=True)
class MediaInfo:
    start: float  # format start_time: what ffmpeg's input -ss counts from
    duration: float | None
    video: VideoInfo | None
    audio: AudioInfo | None


@dataclass(frozen=True)
class Packet:
    pts: float
    dts: float
    key: bool
    pos: int | None


def _ffprobe(args: list[str], url: str) -> dict[str, Any]:
    argv = [procs.ffprobe(), "-v", "error", *procs.fetched_probe_args(), *args]
    argv += ["-of", "json", url]
    try:
        out = procs.run(argv, timeout=PROBE_TIMEOUT_S).stdout
    except ToolError as exc:
        raise SplitError(f"cannot probe {_short(url)}: {exc}") from exc
    try:
        data = json.loads(out or "{}")
    except ValueError as exc:
        raise SplitError(f"ffprobe gave unreadable output for {_short(url)}") from exc
    return data if isinstance(data, dict) else {}


def _short(url: str) -> str:
    return url if len(url) < 120 else url[:60] + "…" + url[-50:]


def _float(value: Any) -> float | None:
    try:
        return None if value in (None, "N/A") else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    return int(value) if str(value).isdigit() else None


def _pid(value: Any) -> int | None:
    try:
        return int(str(value), 0)
    except (TypeError, ValueError):
        return None


def media_info(url: str) -> MediaInfo:
    """Streams of a file or protocol URL; the first video and audio stream count."""
    return _media_info(_ffprobe(["-show_entries", INFO_ENTRIES], url))


INFO_ENTRIES = (
    "format=start_time,duration:stream=index,id,codec_type,codec_name,profile,level,"
    "pix_fmt,width,height,r_frame_rate,avg_frame_rate,has_b_frames,start_time,"
    "sample_rate,channels,sample_aspect_ratio,color_range,color_space,"
    "color_primaries,color_transfer"
)


def _video_index(data: dict[str, Any]) -> int | None:
    for st in data.get("streams", []):
        if st.get("codec_type") == "video":
            index = st.get("index")
            return int(index) if isinstance(index, int) else None
    return None


def _audio_index(data: dict[str, Any]) -> int | None:
    for st in data.get("streams", []):
        if st.get("codec_type") == "audio":
            index = st.get("index")
            return int(index) if isinstance(index, int) else None
    return None


def _media_info(data: dict[str, Any]) -> MediaInfo:
    video: VideoInfo | None = None
    audio: AudioInfo | None = None
    for st in data.get("streams", []):
        kind = st.get("codec_type")
        start = _float(st.get("start_time")) or 0.0
        if kind == "video" and video is None:
            rate = st.get("r_frame_rate") or st.get("avg_frame_rate") or "25/1"
            try:
                fps = Fraction(rate)
            except (ValueError, ZeroDivisionError):
                fps = Fraction(25)
            if fps <= 0:
                fps = Fraction(25)
            level = st.get("level")
            video = VideoInfo(
                codec=str(st.get("codec_name")),
                profile=st.get("profile"),
                level=int(level) if isinstance(level, int) and level > 0 else None,
                pix_fmt=st.get("pix_fmt"),
                width=int(st.get("width") or 0),
                height=int(st.get("height") or 0),
                fps=fps,
                has_b_frames=int(st.get("has_b_frames") or 0),
                pid=_pid(st.get("id")),
                start=start,
                sar=st.get("sample_aspect_ratio"),
                color_range=st.get("color_range"),
                color_space=st.get("color_space"),
                color_primaries=st.get("color_primaries"),
                color_transfer=st.get("color_transfer"),
            )
        elif kind == "audio" and audio is None:
            audio = AudioInfo(
                codec=str(st.get("codec_name")),
                sample_rate=int(st.get("sample_rate") or 48000),
                channels=int(st.get("channels") or 2),
                pid=_pid(st.get("id")),
                start=start,
            )
    fmt = data.get("format", {})
    return MediaInfo(
        start=_float(fmt.get("start_time")) or 0.0,
        duration=_float(fmt.get("duration")),
        video=video,
        audio=audio,
    )


def video_packets(url: str, spans: list[tuple[float, float]]) -> list[Packet]:
    """Video packets with timestamps in the ``(start, end)`` spans (absolute seconds), one run.

    ffprobe's ``-read_intervals`` seeks to each start; mpegts seeking lands on a packet, not a
    keyframe, which is all we need: we only read flags and timestamps.
    """
    intervals = ",".join(f"{max(0.0, lo):.6f}%{hi:.6f}" for lo, hi in spans)
    data = _ffprobe(
        [
            "-select_streams",
            "v:0",
            "-read_intervals",
            intervals,
            "-show_entries",
            "packet=pts_time,dts_time,flags,pos",
        ],
        url,
    )
    return _packets(data.get("packets", []))


def _packets(items: list[dict[str, Any]]) -> list[Packet]:
    out: list[Packet] = []
    for pkt in items:
        pts, dts = _float(pkt.get("pts_time")), _float(pkt.get("dts_time"))
        if pts is None:
            continue
        pos = pkt.get("pos")
        out.append(
            Packet(
                pts=pts,
                dts=dts if dts is not None else pts,
                key="K" in str(pkt.get("flags", "")),
                pos=int(pos) if pos not in (None, "N/A") else None,
            )
        )
    return out


@dataclass(frozen=True)
class Probe:
    """Streams, plus the video packets read around the cut points, from one ffprobe run."""

    info: MediaInfo
    packets: list[Packet]
    spans: list[tuple[float, float]]  # absolute pts ranges in which every packet is known
    # the audio frames read in the same runs, in file order; ``pos`` is that of the PES the
    # frame came in (ffprobe gives it for a PES's first frame only)
    audio: tuple[Packet, ...] = ()


def probe_around(url: str, offsets: list[tuple[float, float]]) -> Probe:
    """Stream layout and the video packets in ``offsets`` (seconds from the input's start).

    One ffprobe run instead of two: the intervals are given relative to the format start time
    (``+start%+length``; each one after the first counts from where the previous one stopped, so
    it is asked for a second early). What was really covered is worked out from the packets
    themselves: every packet before a run's first one has a smaller DTS, so a PTS below that
    DTS plus the reorder delay; every packet after its last one has a larger DTS. A run that
    starts at the input's start, or reaches its last second, covers everything before or after.
    """
    ranges = sorted((max(0.0, lo), hi) for lo, hi in offsets)
    merged: list[tuple[float, float]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 4.0:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    parts: list[str] = []
    prev_end: float | None = None
    for lo, hi in merged:
        start = lo if prev_end is None else lo - prev_end - 1.0
        width = hi - lo if prev_end is None else hi - lo + 1.0
        # from the start: no seek at all (a seek may land a packet or two late)
        head = "" if prev_end is None and lo <= 0.0 else f"+{start:.6f}"
        parts.append(f"{head}%+{width:.6f}")
        prev_end = hi
    data = _ffprobe(
        [
            "-read_intervals",
            ",".join(parts),
            "-show_entries",
            INFO_ENTRIES + ":packet=stream_index,pts_time,dts_time,flags,pos",
        ],
        url,
    )
    info = _media_info(data)
    index = _video_index(data)
    audio_index = _audio_index(data)
    runs: list[list[Packet]] = []
    audio: list[Packet] = []
    last_dts: float | None = None
    pes_pos: int | None = None
    for pkt in data.get("packets", []):
        if pkt.get("stream_index") == audio_index and audio_index is not None:
            for a in _packets([pkt]):
                if a.pos is not None or (audio and a.pts < audio[-1].pts):
                    pes_pos = a.pos  # a new PES (or a new read run: position unknown)
                audio.append(Packet(a.pts, a.dts, a.key, pes_pos))
            continue
        if pkt.get("stream_index") != index:
            continue
        got = _packets([pkt])
        if not got:
            continue
        p = got[0]
        # a new interval: the DTS jumps (video DTS only ever step one frame within a run)
        if last_dts is None or not (last_dts <= p.dts <= last_dts + 1.0):
            runs.append([])
        runs[-1].append(p)
        last_dts = p.dts
    packets: list[Packet] = []
    spans: list[tuple[float, float]] = []
    for i, run in enumerate(runs):
        packets.extend(run)
        reorder = max(p.pts - p.dts for p in run)
        first, last = min(p.dts for p in run), max(p.dts for p in run)
        lo, hi = first + reorder + 0.001, last
        if i == 0 and merged[0][0] <= 0.0:
            lo = -math.inf  # read from the very start
        if i == len(runs) - 1 and info.duration and last >= info.start + info.duration - 1.0:
            hi = math.inf  # read to the very end
        if hi > lo:
            spans.append((lo, hi))
    return Probe(info, packets, spans, tuple(audio))


@dataclass(frozen=True)
class OutputInfo:
    duration_s: float
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    video_start: float | None
    audio_start: float | None
    video_frames: int | None


def output_info(path: Path) -> OutputInfo:
    """What a finished VOD holds (for the record and for checks)."""
    data = _ffprobe(
        [
            "-show_entries",
            "format=duration:stream=codec_type,codec_name,width,height,start_time,nb_frames",
        ],
        str(path),
    )
    info: dict[str, Any] = {}
    for st in data.get("streams", []):
        kind = st.get("codec_type")
        if kind == "video" and "video_codec" not in info:
            info.update(
                video_codec=st.get("codec_name"),
                width=st.get("width"),
                height=st.get("height"),
                video_start=_float(st.get("start_time")),
                video_frames=int(st["nb_frames"])
                if str(st.get("nb_frames", "")).isdigit()
                else None,
            )
        elif kind == "audio" and "audio_codec" not in info:
            info.update(audio_codec=st.get("codec_name"), audio_start=_float(st.get("start_time")))
    return OutputInfo(
        duration_s=_float(data.get("format", {}).get("duration")) or 0.0,
        width=info.get("width"),
        height=info.get("height"),
        video_codec=info.get("video_codec"),
        audio_codec=info.get("audio_codec"),
        video_start=info.get("video_start"),
        audio_start=info.get("audio_start"),
        video_frames=info.get("video_frames"),
    )
