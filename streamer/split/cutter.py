"""Cut pieces of a recording into one MP4 with ffmpeg: frame-exact ("smart cut") or keyframe copy.

Each piece is a run of byte-joined TS segments with continuous timestamps. In **exact** mode a
piece becomes up to three video parts:

* head: frames from the requested start up to the next keyframe K, re-encoded with libx264
  set like the source (profile, level, pix_fmt, reorder delay), so decoding is valid across
  the join and the DTS line up;
* middle: K up to the last keyframe E before the end, stream-copied straight from the
  segments (the input is cut at E's byte position, so no packet of E's GOP slips in);
* tail: frames from E up to the requested end, re-encoded the same way.

Audio is stream-copied separately per piece (AAC frames are all keyframes), counted in whole
frames on the running total so it stays with the video. One ffmpeg run then writes the MP4
with ``+faststart`` from two inputs: a concat script of the video parts, and the pieces' ADTS
files read back to back. Gaps between pieces are closed up in the output and reported by the
caller.

Costs per piece: one ffprobe run (stream layout and the packets around both cut points), the
head and tail encodes and the audio copy side by side, then the join.

**copy** mode keeps only the middle, widened to whole GOPs: it starts at the keyframe at or
before the start and ends at the keyframe at or after the end (up to one GOP extra on each side,
nothing missing), with no re-encoding at all.

Seeking in MPEG-TS lands on the last packet whose DTS is at or before the target, keyframe or
not, so every seek here targets a keyframe's DTS (plus 1 ms) and every trim is done on decoded
frames or by counting packets, never by trusting a seek.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import ffmpeg

from streamer import procs
from streamer.capture.timeline import Piece
from streamer.errors import SplitError, ToolError
from streamer.split.faststart import Mp4Info, Written, describe, faststart
from streamer.split.probe import PROTOCOLS, MediaInfo, Packet, Probe, probe_around, video_packets

Mode = Literal["exact", "copy"]

SCAN_S = 12.0  # how far around a cut point to read packets; grows when no keyframe is found
LAND_S = (
    0.001  # seek target past a keyframe's DTS: lands exactly on it (next packet is >1 frame on)
)
EPS_S = 0.001
PROBE_SLACK_S = 1.5  # how far the first video frame may start after the input's start time
MAX_URL = 60_000  # a longer concat: URL goes into a concatf list file (argv limit)
PROFILES = {
    "constrained baseline": "baseline",
    "baseline": "baseline",
    "main": "main",
    "high": "high",
    "high 10": "high10",
    "high 4:2:2": "high422",
    "high 4:4:4 predictive": "high444",
}


class _NoFrames(SplitError):
    pass


@dataclass
class _Encode:
    """Re-encode ``frames`` frames from pts ``start``, decoding from keyframe ``from_key``."""

    start: float
    from_key: Packet
    frames: int
    path: Path


@dataclass
class _Middle:
    url: str
    inpoint: float  # keyframe DTS + LAND_S
    start: float  # keyframe pts


@dataclass
class _PieceCut:
    url: str
    info: MediaInfo
    start: float  # pts of the first frame kept
    end: float  # pts just after the last frame kept
    head: _Encode | None = None
    middle: _Middle | None = None
    tail: _Encode | None = None
    tail_start: float = 0.0
    audio: Path | None = None
    audio_frames: int = 0
    jobs: list[list[str]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class CutResult:
    path: Path
    duration_s: float  # planned media duration (sum of pieces)
    reencoded_frames: int
    pieces: int
    sha256: str  # of the file at ``path``, taken while it was written
    size: int
    info: Mp4Info  # what the file holds, from its moov


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


class _Joiner:
    """Builds protocol URLs that read several segment files as one byte stream."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.count = 0

    def url(self, files: list[Path], cut_last_at: int | None = None) -> str:
        nodes = [str(f) for f in files]
        if cut_last_at is not None:
            nodes[-1] = f"subfile,,start,0,end,{cut_last_at},,:{nodes[-1]}"
        joined = "concat:" + "|".join(nodes)
        if len(joined) <= MAX_URL and not any("|" in n for n in nodes):
            return joined
        self.count += 1
        listing = self.workdir / f"join-{self.count}.txt"
        listing.write_text("".join(n + "\n" for n in nodes), "utf-8")
        return f"concatf:{listing}"


def _frames_between(packets: list[Packet], lo: float, hi: float) -> int:
    return sum(1 for p in packets if lo - EPS_S <= p.pts < hi - EPS_S)


def _merge(*lists: list[Packet]) -> list[Packet]:
    seen: dict[float, Packet] = {}
    for items in lists:
        for p in items:
            seen.setdefault(round(p.pts, 4), p)
    return sorted(seen.values(), key=lambda p: p.pts)


class _Scanner:
    """Reads video packets around cut points, widening the window when a keyframe is not in it."""

    def __init__(self, url: str, probe: Probe) -> None:
        self.url = url
        self.info = probe.info
        self.packets: list[Packet] = _merge(probe.packets)
        self.spans: list[tuple[float, float]] = list(probe.spans)

    def read(self, lo: float, hi: float, *more: tuple[float, float]) -> None:
        wanted = [(x, y) for x, y in [(lo, hi), *more] if not self.covered(x, y)]
        if wanted:  # one ffprobe run for all of them (each run costs ~50 ms to start)
            self.packets = _merge(self.packets, video_packets(self.url, wanted))
            self.spans.extend(wanted)

    def covered(self, lo: float, hi: float) -> bool:
        return any(a <= lo and hi <= b for a, b in self.spans)

    def key_at_or_before(self, t: float, floor: float) -> Packet | None:
        width = SCAN_S
        while True:
            self.read(t - width, t + 1.0)
            keys = [p for p in self.packets if p.key and p.pts <= t + EPS_S]
            if keys:
                return max(keys, key=lambda p: p.pts)
            if t - width <= floor:
                return None
            width *= 4

    def key_at_or_after(self, t: float, ceiling: float) -> Packet | None:
        width = SCAN_S
        while True:
            self.read(t - 1.0, t + width)
            keys = [p for p in self.packets if p.key and p.pts >= t - EPS_S]
            if keys:
                return min(keys, key=lambda p: p.pts)
            if t + width >= ceiling - EPS_S:
                return None
            width *= 4


def _file_at(files: list[Path], pos: int) -> tuple[int, int]:
    """(index of the file holding byte ``pos`` of the joined stream, offset inside it)."""
    offset = pos
    for i, f in enumerate(files):
        size = f.stat().st_size
        if offset < size:
            return i, offset
        offset -= size
    raise SplitError(f"byte {pos} lies past the end of the recording's files")


def _resolve(piece: Piece, mode: Mode, joiner: _Joiner, workdir: Path, n: int) -> _PieceCut:
    files = [f.resolve() for f in piece.files]
    for f in files:
        if not f.exists():
            raise SplitError(f"segment file is missing: {f}")
    url = joiner.url(files)
    # stream layout and the packets around both cut points in one ffprobe run; offsets count
    # from the first video frame, the probe's from the input's start (up to ~1 s earlier)
    margin = SCAN_S + 2.0
    probe = probe_around(
        url,
        [
            (piece.offset_in - margin - 0.5, piece.offset_in + margin + PROBE_SLACK_S),
            (piece.offset_out - margin, piece.offset_out + margin + PROBE_SLACK_S),
        ],
    )
    info = probe.info
    if info.video is None:
        raise SplitError(f"no video stream in part {piece.part} ({files[0].name})")
    v = info.video
    fd = v.frame_s
    a = v.start + piece.offset_in
    b = v.start + piece.offset_out
    scan = _Scanner(url, probe)
    ceiling = info.start + info.duration + 1.0 if info.duration else b + 3600.0
    floor = v.start - 1.0
    # everything the cut points below usually need came with the probe (2 s wider than the
    # lookups below ask for, so they are served from it); this reads only what it missed
    scan.read(a - SCAN_S - 2.0, a + SCAN_S + 2.0, (b - SCAN_S - 2.0, b + SCAN_S + 2.0))

    if mode == "copy":
        k0 = scan.key_at_or_before(a, floor) or scan.key_at_or_after(a, ceiling)
        if k0 is None:
            raise SplitError(f"no keyframe in part {piece.part} near the cut")
        k_end = scan.key_at_or_after(b - EPS_S, ceiling)
        cut = _PieceCut(url, info, start=k0.pts, end=b)
        cut.middle = _Middle(url, k0.dts + LAND_S, k0.pts)
        if k_end is not None and k_end.pts > k0.pts:
            cut.end = k_end.pts
            cut.middle.url = _middle_url(files, joiner, k0, k_end)
        else:  # to the end of the piece
            cut.end = _last_end(scan, b, fd)
            cut.middle.url = _middle_url(files, joiner, k0, None)
        return _with_audio(cut, workdir, n)

    # exact: a session is the half-open [a, b): from the frame on screen at `a` to the last
    # frame over by `b`; the frame on screen at `b` opens the next session, so neighbours
    # never share one (unless it is the media's last frame: a gap or the end follows)
    scan.read(a - 1.0, a + 1.0)
    scan.read(b - 1.0, b + 1.0)
    before = [p for p in scan.packets if p.pts <= a + EPS_S]
    first = (
        max(before, key=lambda p: p.pts)
        if before
        else min((p for p in scan.packets if p.pts >= a), key=lambda p: p.pts, default=None)
    )
    shown = sorted((p for p in scan.packets if p.pts < b - EPS_S), key=lambda p: p.pts)
    if (
        shown
        and shown[-1].pts + fd > b + EPS_S
        and any(p.pts > shown[-1].pts + EPS_S for p in scan.packets)
    ):
        shown.pop()
    if first is None or not shown:
        raise _NoFrames(f"no video frames in part {piece.part} for the window")
    start = first.pts
    last = shown[-1]
    # nothing after the last frame shown within a second: the piece ends there
    at_eof = not any(p.pts > last.pts + EPS_S for p in scan.packets)
    end = last.pts + fd
    cut = _PieceCut(url, info, start=start, end=end)

    k = scan.key_at_or_after(start, end)
    if k is not None and k.pts > last.pts + EPS_S:
        k = None
    if k is None or k.pts > start + EPS_S:  # a head is needed
        k_prev = scan.key_at_or_before(start, floor)
        if k_prev is None:  # the piece opens mid-GOP: start at its first keyframe
            if k is None:
                raise SplitError(f"no keyframe in part {piece.part} before {b - v.start:.3f}s")
            cut.start = start = k.pts
        else:
            upto = k.pts if k is not None else end
            frames = _frames_between(_packets_for(scan, start, upto), start, upto)
            cut.head = _Encode(start, k_prev, frames, workdir / f"p{n}-head.ts")
    if k is None:
        return _with_audio(cut, workdir, n)

    # the copied middle runs from K to the last keyframe E before the end, or to the next
    # keyframe when that is the very frame after the end (or to the end of the piece)
    k_next = min(
        (p for p in scan.packets if p.key and p.pts >= end - EPS_S),
        key=lambda p: p.pts,
        default=None,
    )
    if k_next is not None and abs(k_next.pts - end) < fd / 2:
        cut.middle = _Middle(_middle_url(files, joiner, k, k_next), k.dts + LAND_S, k.pts)
        return _with_audio(cut, workdir, n)
    if at_eof:
        cut.middle = _Middle(_middle_url(files, joiner, k, None), k.dts + LAND_S, k.pts)
        return _with_audio(cut, workdir, n)
    e = scan.key_at_or_before(last.pts, k.pts - EPS_S)
    if e is None or e.pts < k.pts - EPS_S:
        e = k
    if e.pts > k.pts + EPS_S:
        cut.middle = _Middle(_middle_url(files, joiner, k, e), k.dts + LAND_S, k.pts)
    frames = _frames_between(_packets_for(scan, e.pts, end), e.pts, end)
    cut.tail = _Encode(e.pts, e, frames, workdir / f"p{n}-tail.ts")
    cut.tail_start = e.pts
    return _with_audio(cut, workdir, n)


def _packets_for(scan: _Scanner, lo: float, hi: float) -> list[Packet]:
    scan.read(lo - 0.5, hi + 0.5)
    return scan.packets


def _last_end(scan: _Scanner, b: float, fd: float) -> float:
    scan.read(b - SCAN_S, b + SCAN_S)
    return max(p.pts for p in scan.packets) + fd


def _middle_url(files: list[Path], joiner: _Joiner, k: Packet, e: Packet | None) -> str:
    """The joined input from the file holding K up to E's first byte (or to the end)."""
    if k.pos is None:
        raise SplitError("ffprobe gave no byte position for a keyframe")
    first, _ = _file_at(files, k.pos)
    if e is None:
        return joiner.url(files[first:])
    if e.pos is None:
        raise SplitError("ffprobe gave no byte position for a keyframe")
    last, offset = _file_at(files, e.pos)
    if offset == 0:
        return joiner.url(files[first:last])
    return joiner.url(files[first : last + 1], cut_last_at=offset)


def _with_audio(cut: _PieceCut, workdir: Path, n: int) -> _PieceCut:
    if cut.info.audio is not None:
        afd = cut.info.audio.frame_s
        cut.audio = workdir / f"p{n}-audio.aac"
        cut.audio_frames = max(1, round(cut.duration / afd))  # set again by _count_audio
    return cut


def _count_audio(cuts: list[_PieceCut]) -> None:
    """Whole AAC frames per piece, counted on the running total: the pieces' audio files are
    read back to back as one stream, so each piece's audio starts within half a frame of its
    video (the rounding does not add up over many pieces)."""
    offset = 0.0
    for c in cuts:
        if c.audio is not None and c.info.audio is not None:
            afd = c.info.audio.frame_s
            before = round(offset / afd)
            c.audio_frames = max(1, round((offset + c.duration) / afd) - before)
        offset += c.duration


def _x264_args(cut: _PieceCut, key: Packet) -> dict[str, Any]:
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


def _encode_cmd(cut: _PieceCut, enc: _Encode) -> list[str]:
    """Decode from the keyframe, keep frames from ``enc.start`` on (by their own timestamps)."""
    seek = enc.from_key.dts + LAND_S - cut.info.start
    opts: dict[str, Any] = {
        "protocol_whitelist": PROTOCOLS,
        "noaccurate_seek": None,
        "threads": 1,
    }
    if seek > 0:
        opts["ss"] = f"{seek:.6f}"
    quarter = (cut.info.video.frame_s if cut.info.video else 0.04) / 4
    # -copyts keeps the source's timestamps, so the trim is on absolute pts, whatever the seek
    inp = ffmpeg.input(cut.url, **procs.fetched_input(opts))
    video = inp.video.filter("trim", start=f"{enc.start - quarter:.6f}")
    out_args = _x264_args(cut, enc.from_key)
    out_args.update({"frames:v": enc.frames, "f": "mpegts"})
    cmd: list[str] = (
        video.output(str(enc.path), **out_args)
        .global_args("-nostdin", "-v", "error", "-y", "-copyts")
        .compile(cmd=procs.ffmpeg())
    )
    return cmd


def _audio_cmd(cut: _PieceCut) -> list[str]:
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


def _timeout(seconds: float) -> float:
    return 120.0 + seconds / 4


def _write_lists(cuts: list[_PieceCut], workdir: Path, joiner: _Joiner) -> tuple[Path, str | None]:
    """The video concat script, and the audio: the pieces' ADTS files read back to back.

    ffmpeg starts each input at 0, so both begin together. The audio is one plain ADTS input
    (the concat protocol when there are several pieces), not a second concat script: the
    concat demuxer over ADTS made the join take about 60% more CPU time.
    """
    video: list[tuple[str, float, float | None]] = []  # (url, desired start, inpoint)
    audio: list[Path] = []
    offset = 0.0
    for cut in cuts:
        if cut.head is not None:
            video.append((str(cut.head.path), offset, None))
        if cut.middle is not None:
            m = cut.middle
            video.append((m.url, offset + m.inpoint - cut.start, m.inpoint))
        if cut.tail is not None:
            video.append((str(cut.tail.path), offset + cut.tail.start - cut.start, None))
        if cut.audio is not None:
            audio.append(cut.audio.resolve())
        offset += cut.duration
    pid = cuts[0].info.video.pid if cuts[0].info.video else None
    lines = ["ffconcat version 1.0"]
    if pid is not None:  # take only the video PID from each input (the TS carry audio too)
        lines += ["stream", f"exact_stream_id {pid:#x}"]
    for i, (url, at, inpoint) in enumerate(video):
        lines.append(f"file {_quote(url)}")
        if inpoint is not None:
            lines.append(f"inpoint {inpoint:.6f}")
        if i + 1 < len(video):
            lines.append(f"duration {video[i + 1][1] - at:.6f}")
    vlist = workdir / "video.ffconcat"
    vlist.write_text("\n".join(lines) + "\n", "utf-8")
    if not audio or len(audio) != len(cuts):
        return vlist, None
    return vlist, f"file:{audio[0]}" if len(audio) == 1 else joiner.url(audio)


def cut(
    pieces: list[Piece],
    out: Path,
    *,
    mode: Mode = "exact",
    workdir: Path,
    on_step: Callable[[str, float], None] | None = None,
) -> CutResult:
    """Write ``out`` (MP4) from ``pieces``. ``workdir`` holds temporary parts."""
    if not pieces:
        raise SplitError("nothing to cut: the window has no recorded media")
    if mode not in ("exact", "copy"):
        raise SplitError(f"unknown split mode {mode!r} (exact or copy)")
    # absolute paths: ffmpeg's concat demuxer resolves relative ones against the script's dir
    workdir = workdir.resolve()
    pieces = [replace(p, files=[f.resolve() for f in p.files]) for p in pieces]
    workdir.mkdir(parents=True, exist_ok=True)
    step = on_step or (lambda _name, _frac: None)
    joiner = _Joiner(workdir)
    cuts: list[_PieceCut] = []
    for i, piece in enumerate(pieces):
        try:
            cuts.append(_resolve(piece, mode, joiner, workdir, i))
        except _NoFrames:  # a sliver of a segment at the window's edge: nothing to show
            if len(pieces) == 1:
                raise
    if not cuts:
        raise SplitError("no video frames in the window")
    _count_audio(cuts)
    step("planned", 0.2)
    pids = {c.info.video.pid for c in cuts if c.info.video and c.info.video.pid is not None}
    if len(pids) > 1:
        raise SplitError(f"recording parts differ in stream layout (video PIDs {sorted(pids)})")

    jobs: list[tuple[list[str], float]] = []
    for c in cuts:
        for enc in (c.head, c.tail):
            if enc is not None and enc.frames > 0:
                jobs.append((_encode_cmd(c, enc), _timeout(enc.frames / 10)))
        if c.audio is not None:
            jobs.append((_audio_cmd(c), _timeout(c.duration)))
    _run_all(jobs)
    for c in cuts:  # an encode that yielded nothing is dropped rather than joined empty
        for name in ("head", "tail"):
            enc = getattr(c, name)
            if enc is not None and (enc.frames <= 0 or not enc.path.exists()):
                raise SplitError(f"re-encoding the {name} of a piece produced no frames")
    step("parts", 0.6)

    vlist, audio = _write_lists(cuts, workdir, joiner)
    vin = ffmpeg.input(str(vlist), **procs.fetched_input({"safe": 0}, fmt="concat"))
    streams = [vin.video]
    if audio is not None:
        ain = ffmpeg.input(audio, f="aac", protocol_whitelist=PROTOCOLS)
        streams.append(ain.audio)
    total = sum(c.duration for c in cuts)
    # moov at the end here; moving it to the front (faststart) is done while hashing, below
    joined = workdir / "joined.mp4"
    cmd = (
        ffmpeg.output(*streams, str(joined), c="copy", f="mp4")
        .global_args("-nostdin", "-v", "error", "-y")
        .compile(cmd=procs.ffmpeg())
    )
    try:
        procs.run(cmd, timeout=_timeout(total))
        written = _faststart(joined, out, total)
    except ToolError as exc:
        _unlink(out)
        raise SplitError(f"joining the parts failed: {exc}") from exc
    except OSError as exc:
        _unlink(out)
        raise SplitError(f"writing {out.name} failed: {exc}") from exc
    finally:
        _unlink(joined)
    step("joined", 1.0)
    frames = sum((c.head.frames if c.head else 0) + (c.tail.frames if c.tail else 0) for c in cuts)
    return CutResult(out, total, frames, len(cuts), written.sha256, written.size, written.info)


def _faststart(joined: Path, out: Path, total: float) -> Written:
    """``out`` with its moov in front, hashed as written; ffmpeg does the move when the
    file is too large for its 32-bit offsets to move (then it is read once more to hash)."""
    written = faststart(joined, out)
    if written is not None:
        return written
    cmd = [procs.ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", str(joined)]
    cmd += ["-map", "0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(out)]
    procs.run(cmd, timeout=_timeout(total))
    return describe(out)


def _run_all(jobs: list[tuple[list[str], float]]) -> None:
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


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
