"""Cut pieces of a recording into one MP4 with ffmpeg: frame-exact ("smart cut") or keyframe copy.

Each piece is a run of byte-joined TS segments with continuous timestamps. In **exact** mode a
piece becomes up to three video parts:

* head: frames from the requested start up to the next keyframe K, re-encoded with libx264
  set like the source (profile, level, pix_fmt, reorder delay), so decoding is valid across
  the join and the DTS line up;
* middle: K up to the last keyframe E before the end, stream-copied straight from the
  segments (the input is cut at E's byte position, so no packet of E's GOP slips in);
* tail: frames from E up to the requested end, re-encoded the same way.

Audio, when the session is one piece with a head, a middle and a tail (the usual case): the
middle carries the source's AAC frames of the PES packets between K's and E's bytes, the head's
run also copies the frames from the session's start up to those, and the tail's run the frames
after them up to the end. The join then reads audio and video from one concat script: one
input, one read of the source. Otherwise (several pieces, no head or tail, or audio positions
the probe did not cover) the audio is stream-copied separately per piece, counted in whole
frames on the running total so it stays with the video, and the join reads the pieces' ADTS
files back to back as a second input. Gaps between pieces are closed up in the output and
reported by the caller. The join (``streamer.split.join``) writes the MP4 once, ``moov`` in
front, and it is read once to hash it.

Costs per piece: one ffprobe run (stream layout and the packets around both cut points), the
head and tail encodes side by side (``streamer.split.encode``; the head's run also samples the
thumbnail), then the join. Each encode reads from the segment holding its keyframe on, seeking
by absolute time: a seek from the piece's start through a long concat cost ~0.1 CPU-s.

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
from dataclasses import dataclass, replace
from pathlib import Path

from streamer.capture.timeline import Piece
from streamer.errors import SplitError
from streamer.split.encode import HeadSamples, audio_cmd, encode_cmd, run_all, timeout
from streamer.split.faststart import Mp4Info
from streamer.split.join import join
from streamer.split.parts import (
    EPS_S,
    LAND_S,
    Encode,
    InbandAudio,
    Joiner,
    Middle,
    Mode,
    PieceCut,
    count_audio,
)
from streamer.split.probe import Packet, Probe, probe_around
from streamer.split.scan import SCAN_S, Scanner, file_at, frames_between
from streamer.split.thumbnail import pick_sample

__all__ = ["CutResult", "Mode", "cut"]

PTS_WRAP_S = 2**33 / 90_000  # where MPEG-TS timestamps wrap
PROBE_SLACK_S = 1.5  # how far the first video frame may start after the input's start time

# the names the tests have always used
_PieceCut, _Joiner, _count_audio = PieceCut, Joiner, count_audio


class _NoFrames(SplitError):
    pass


@dataclass(frozen=True)
class CutResult:
    path: Path
    duration_s: float  # planned media duration (sum of pieces)
    reencoded_frames: int
    pieces: int
    sha256: str  # of the file at ``path``, read once right after it was written
    size: int
    info: Mp4Info  # what the file holds, from its moov
    thumbnail: Path | None = None  # a JPEG of a head frame, when asked for and not blank


def _resolve(piece: Piece, mode: Mode, joiner: Joiner, workdir: Path, n: int) -> PieceCut:
    files = piece.files  # absolute already (``cut``)
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
    scan = Scanner(url, probe)
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
        cut = PieceCut(url, info, start=k0.pts, end=b)
        cut.middle = Middle(url, k0.dts + LAND_S, k0.pts)
        if k_end is not None and k_end.pts > k0.pts:
            cut.end = k_end.pts
            cut.middle.url = _middle_url(files, joiner, k0, k_end)
        else:  # to the end of the piece
            cut.end = scan.last_end(b, fd)
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
    cut = PieceCut(url, info, start=start, end=end)

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
            frames = frames_between(scan.around(start, upto), start, upto)
            cut.head = Encode(
                start, k_prev, frames, workdir / f"p{n}-head.ts", _from_url(files, joiner, k_prev)
            )
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
        cut.middle = Middle(_middle_url(files, joiner, k, k_next), k.dts + LAND_S, k.pts)
        return _with_audio(cut, workdir, n)
    if at_eof:
        cut.middle = Middle(_middle_url(files, joiner, k, None), k.dts + LAND_S, k.pts)
        return _with_audio(cut, workdir, n)
    e = scan.key_at_or_before(last.pts, k.pts - EPS_S)
    if e is None or e.pts < k.pts - EPS_S:
        e = k
    if e.pts > k.pts + EPS_S:
        cut.middle = Middle(_middle_url(files, joiner, k, e), k.dts + LAND_S, k.pts)
    frames = frames_between(scan.around(e.pts, end), e.pts, end)
    cut.tail = Encode(e.pts, e, frames, workdir / f"p{n}-tail.ts", _from_url(files, joiner, e))
    cut.tail_start = e.pts
    cut.inband = _inband(probe, cut, k, e)
    return _with_audio(cut, workdir, n)


def _inband(probe: Probe, cut: PieceCut, k: Packet, e: Packet) -> InbandAudio | None:
    """Where the audio of a piece with a head, a copied middle and a tail comes from when
    the parts carry it (None when that cannot be worked out from the probe: the separate
    audio copy is used then).

    The session's audio is the whole AAC frames from the first one at or after the first
    video frame, as many as fit its duration. The middle brings the frames of the PES packets
    that start between K's and E's bytes (ffmpeg and the MPEG-TS demuxer drop a PES cut at
    the start, and one starting before E ends before E's PES begins), the head's run the
    frames before those, and the tail's run the rest.
    """
    info = cut.info.audio
    frames = [p for p in probe.audio if p.pos is not None]
    if info is None or info.pid is None or k.pos is None or e.pos is None or not frames:
        return None
    if cut.head is None:
        return None
    afd = info.frame_s

    def first_after(pos: int) -> Packet | None:
        before = [p for p in frames if p.pos is not None and p.pos < pos]
        after = [p for p in frames if p.pos is not None and p.pos > pos]
        if not before or not after:  # the read did not cover both sides of the cut
            return None
        return min(after, key=lambda p: p.pts)

    known = [p for p in frames if p.pts >= cut.start - EPS_S]
    if not known or not any(p.pts < cut.start - EPS_S for p in frames):
        return None
    start = min(p.pts for p in known)
    count = round((cut.end - start) / afd)
    end = start + count * afd
    m0, m1 = first_after(k.pos), first_after(e.pos)
    if m0 is None or m1 is None or cut.head.from_key.pos is None:
        return None
    # the head's run reads from its keyframe's bytes on: the first frame is there to copy
    # (a source whose audio runs ahead of its video could have muxed it earlier); a frame
    # the probe missed could only make this look later, never earlier
    k_prev = cut.head.from_key.pos
    from_head = [p.pts for p in frames if p.pos is not None and p.pos > k_prev]
    if not from_head or min(from_head) > start + EPS_S:
        return None
    # the head and the tail each carry at least one frame, and the middle's frames all fit
    if not (start + afd / 2 < m0.pts < m1.pts < end - afd / 2):
        return None
    return InbandAudio(start, end, m0.pts, m1.pts, info.pid)


def _middle_url(files: list[Path], joiner: Joiner, k: Packet, e: Packet | None) -> str:
    """The joined input from the file holding K up to E's first byte (or to the end)."""
    if k.pos is None:
        raise SplitError("ffprobe gave no byte position for a keyframe")
    first, _ = file_at(files, k.pos)
    if e is None:
        return joiner.url(files[first:])
    if e.pos is None:
        raise SplitError("ffprobe gave no byte position for a keyframe")
    last, offset = file_at(files, e.pos)
    if offset == 0:
        return joiner.url(files[first:last])
    return joiner.url(files[first : last + 1], cut_last_at=offset)


def _from_url(files: list[Path], joiner: Joiner, key: Packet) -> str | None:
    """The joined input from the file holding ``key`` to the end, for an encode to seek in by
    absolute time; None (the whole input) when that could differ from the whole input's
    timestamps: a 33-bit MPEG-TS clock wrap could lie between their starts."""
    if key.pos is None or key.dts > PTS_WRAP_S - 3600.0:
        return None
    first, _ = file_at(files, key.pos)
    return joiner.url(files[first:]) if first > 0 else None


def _with_audio(cut: PieceCut, workdir: Path, n: int) -> PieceCut:
    if cut.info.audio is not None:
        afd = cut.info.audio.frame_s
        cut.audio = workdir / f"p{n}-audio.aac"
        cut.audio_frames = max(1, round(cut.duration / afd))  # set again by count_audio
    return cut


def cut(
    pieces: list[Piece],
    out: Path,
    *,
    mode: Mode = "exact",
    workdir: Path,
    thumbnail: Path | None = None,
    on_step: Callable[[str, float], None] | None = None,
) -> CutResult:
    """Write ``out`` (MP4) from ``pieces``. ``workdir`` holds temporary parts.

    With ``thumbnail``, a JPEG of one of the first piece's head frames (re-encoded anyway) is
    written there when one is not blank; ``CutResult.thumbnail`` is None otherwise.
    """
    if not pieces:
        raise SplitError("nothing to cut: the window has no recorded media")
    if mode not in ("exact", "copy"):
        raise SplitError(f"unknown split mode {mode!r} (exact or copy)")
    # absolute paths: ffmpeg's concat demuxer resolves relative ones against the script's dir
    # (abspath, not resolve: a symlink-walk of every segment cost ~0.05 CPU-s per session)
    workdir = workdir.resolve()
    pieces = [replace(p, files=[Path(os.path.abspath(f)) for f in p.files]) for p in pieces]
    workdir.mkdir(parents=True, exist_ok=True)
    step = on_step or (lambda _name, _frac: None)
    joiner = Joiner(workdir)
    cuts: list[PieceCut] = []
    for i, piece in enumerate(pieces):
        try:
            cuts.append(_resolve(piece, mode, joiner, workdir, i))
        except _NoFrames:  # a sliver of a segment at the window's edge: nothing to show
            if len(pieces) == 1:
                raise
    if not cuts:
        raise SplitError("no video frames in the window")
    count_audio(cuts)
    step("planned", 0.2)
    pids = {c.info.video.pid for c in cuts if c.info.video and c.info.video.pid is not None}
    if len(pids) > 1:
        raise SplitError(f"recording parts differ in stream layout (video PIDs {sorted(pids)})")

    head = cuts[0].head
    samples = None
    if thumbnail is not None and head is not None and head.start <= cuts[0].start + EPS_S:
        samples = HeadSamples.for_head(head.frames, workdir)
    if len(cuts) > 1:  # pieces' audio is counted on their running total: copied apart
        for c in cuts:
            c.inband = None
    jobs: list[tuple[list[str], float]] = []
    for c in cuts:
        ib = c.inband
        for enc in (c.head, c.tail):
            if enc is not None and enc.frames > 0:
                offer = samples if enc is head else None
                span = None
                if ib is not None:
                    span = (ib.start, ib.middle_start) if enc is c.head else (ib.middle_end, ib.end)
                jobs.append((encode_cmd(c, enc, offer, span), timeout(enc.frames / 10)))
        if c.audio is not None and ib is None:
            jobs.append((audio_cmd(c), timeout(c.duration)))
    run_all(jobs)
    for c in cuts:  # an encode that yielded nothing is dropped rather than joined empty
        for name in ("head", "tail"):
            enc = getattr(c, name)
            if enc is not None and (enc.frames <= 0 or not enc.path.exists()):
                raise SplitError(f"re-encoding the {name} of a piece produced no frames")
    step("parts", 0.6)
    thumb = _pick_thumbnail(samples, thumbnail)

    total = sum(c.duration for c in cuts)
    written = join(cuts, out, workdir, joiner, total)
    step("joined", 1.0)
    frames = sum((c.head.frames if c.head else 0) + (c.tail.frames if c.tail else 0) for c in cuts)
    return CutResult(
        out, total, frames, len(cuts), written.sha256, written.size, written.info, thumb
    )


def _pick_thumbnail(samples: HeadSamples | None, dest: Path | None) -> Path | None:
    if samples is None or dest is None:
        return None
    jpgs = [samples.jpg(k) for k in range(len(samples.indices))]
    chosen = pick_sample(samples.gray, jpgs)
    if chosen is not None:
        chosen.replace(dest)
    for f in [samples.gray, *jpgs]:
        f.unlink(missing_ok=True)
    return dest if chosen is not None else None
