"""The join: one ffmpeg run writes the finished MP4 from the parts, ``moov`` in front.

ffmpeg reserves room for the ``moov`` at the front (``-moov_size``) and fills it in at the end,
so the file is written once, in its final layout, under its final name: no faststart pass
rewriting it. It is then read once, while it is still in the page cache, to hash it and to read
what it holds from its ``moov`` (measured cheaper than moving the ``moov`` in Python while
copying the file, see ``docs/benchmarks/split.md``). When the room was too small, the join is
written again with the ``moov`` last and moved in front by :func:`faststart`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import ffmpeg

from streamer import procs
from streamer.errors import SplitError, ToolError
from streamer.split.encode import timeout
from streamer.split.faststart import Written, describe, faststart
from streamer.split.parts import Joiner, PieceCut
from streamer.split.probe import PROTOCOLS

log = logging.getLogger(__name__)

# moov bytes per sample, with room to spare: video about 23 measured (stsz, ctts, stts, sdtp,
# stss), AAC about 4 (stsz), plus chunk tables and the boxes' own headers
MOOV_PER_VIDEO_FRAME = 36
MOOV_PER_AUDIO_FRAME = 10
MOOV_BASE = 64 * 1024
_TOO_SMALL = ("reserved_moov_size is too small", "Error writing trailer")


def moov_room(cuts: list[PieceCut]) -> int:
    """Bytes to reserve for the ``moov`` in front of the media."""
    video = sum(c.video_frames for c in cuts)
    audio = sum(c.audio_frames for c in cuts if c.audio is not None)
    return MOOV_BASE + MOOV_PER_VIDEO_FRAME * video + MOOV_PER_AUDIO_FRAME * audio


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def write_lists(cuts: list[PieceCut], workdir: Path, joiner: Joiner) -> tuple[Path, str | None]:
    """The video concat script, and the audio: the pieces' ADTS files read back to back.

    ffmpeg starts each input at 0, so both begin together. The audio is one plain ADTS input
    (the concat protocol when there are several pieces), not a second concat script: the
    concat demuxer over ADTS made the join take about 60% more CPU time.
    """
    video: list[tuple[str, float, float | None]] = []  # (url, desired start, inpoint)
    audio: list[Path] = []
    offset = 0.0
    inband = cuts[0].inband if len(cuts) == 1 else None
    for cut in cuts:
        if cut.head is not None:
            video.append((str(cut.head.path), offset, None))
        if cut.middle is not None:
            m = cut.middle
            video.append((m.url, offset + m.inpoint - cut.start, m.inpoint))
        if cut.tail is not None:
            # a file without an inpoint starts at its earliest packet: the tail's first audio
            # frame may come before its first video frame
            first = cut.tail.start if inband is None else min(cut.tail.start, inband.middle_end)
            video.append((str(cut.tail.path), offset + first - cut.start, None))
        if cut.audio is not None:
            audio.append(cut.audio.resolve())
        offset += cut.duration
    pid = cuts[0].info.video.pid if cuts[0].info.video else None
    lines = ["ffconcat version 1.0"]
    if pid is not None:  # take only the video PID from each input (the TS carry audio too)
        lines += ["stream", f"exact_stream_id {pid:#x}"]
        if inband is not None and inband.pid is not None:  # and the audio, carried along
            lines += ["stream", f"exact_stream_id {inband.pid:#x}"]
            audio = []
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


def _inband(cuts: list[PieceCut]) -> bool:
    """Whether the parts carry the audio (one input), rather than the separate ADTS copy."""
    c = cuts[0]
    return len(cuts) == 1 and c.inband is not None and c.inband.pid is not None


def _join_cmd(
    vlist: Path, audio: str | None, out: Path, moov_size: int | None, inband: bool
) -> list[str]:
    vin = ffmpeg.input(str(vlist), **procs.fetched_input({"safe": 0}, fmt="concat"))
    streams = [vin.video]
    if inband:
        streams.append(vin.audio)
    elif audio is not None:
        ain = ffmpeg.input(audio, f="aac", protocol_whitelist=PROTOCOLS)
        streams.append(ain.audio)
    extra = {"moov_size": moov_size} if moov_size else {}
    cmd: list[str] = (
        ffmpeg.output(*streams, str(out), c="copy", f="mp4", **extra)
        .global_args("-nostdin", "-v", "error", "-y")
        .compile(cmd=procs.ffmpeg())
    )
    return cmd


def join(cuts: list[PieceCut], out: Path, workdir: Path, joiner: Joiner, total_s: float) -> Written:
    """Write ``out`` from the parts; its size, sha256 and what its ``moov`` says."""
    vlist, audio = write_lists(cuts, workdir, joiner)
    try:
        result = procs.run(
            _join_cmd(vlist, audio, out, moov_room(cuts), _inband(cuts)), timeout=timeout(total_s)
        )
        if not any(text in result.stderr for text in _TOO_SMALL):  # ffmpeg 5.1 exits 0 then
            try:
                written = describe(out)
            except SplitError:  # no moov: the trailer was not written
                written = None
            if written is not None and written.moov_first:
                return written
        # too many samples for the room reserved: moov last, then moved in front here
        log.warning("moov room of %d bytes too small for %s", moov_room(cuts), out.name)
        joined = workdir / "joined.mp4"
        try:
            procs.run(
                _join_cmd(vlist, audio, joined, None, _inband(cuts)), timeout=timeout(total_s)
            )
            return _faststart(joined, out, total_s)
        finally:
            joined.unlink(missing_ok=True)
    except ToolError as exc:
        out.unlink(missing_ok=True)
        raise SplitError(f"joining the parts failed: {exc}") from exc
    except OSError as exc:
        out.unlink(missing_ok=True)
        raise SplitError(f"writing {out.name} failed: {exc}") from exc


def _faststart(joined: Path, out: Path, total_s: float) -> Written:
    """``out`` with its moov in front, hashed as written; ffmpeg does the move when the
    file is too large for its 32-bit offsets to move (then it is read once more to hash)."""
    written = faststart(joined, out)
    if written is not None:
        return written
    cmd = [procs.ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", str(joined)]
    cmd += ["-map", "0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(out)]
    procs.run(cmd, timeout=timeout(total_s))
    return describe(out)
