"""Raw signals of one stretch of a recording, from one ffmpeg run.

The run reads only the segments of the window (a ``concatf:`` list) and makes, at once:

* audio: ``astats`` per half-second chunk (RMS level and zero-crossing rate: a tone or a voice
  crosses zero at its pitch, applause and hiss far more often) and ``silencedetect`` spans;
* video, keyframes only (``-skip_frame nokey``: no full decode, which keeps the cost a small
  fraction of the media): ``blackdetect``, ``freezedetect``, and a 32×18 RGB thumbnail per
  keyframe for the scene and slate detectors.

Times are seconds from the window's first segment start; :class:`Signals` converts them to
wall-clock instants with the timeline.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from streamer import procs
from streamer.capture.timeline import Timeline
from streamer.errors import ToolError

THUMB_W, THUMB_H = 32, 18
THUMB_BYTES = THUMB_W * THUMB_H * 3
CHUNK_S = 0.5
AUDIO_RATE = 8000
SILENCE_DB = -45.0
SILENCE_MIN_S = 2.0
FREEZE_MIN_S = 4.0

_SHOWINFO = re.compile(r"Parsed_showinfo.*?\bpts_time:\s*([-0-9.]+)")
_SILENCE = re.compile(r"silence_(start|end):\s*([-0-9.]+)")
_BLACK = re.compile(r"black_start:\s*([-0-9.]+)\s+black_end:\s*([-0-9.]+)")
_FREEZE = re.compile(r"lavfi\.freezedetect\.freeze_(start|end):\s*([-0-9.]+)")
_META_T = re.compile(r"pts_time:\s*([-0-9.]+)")
Clock = Callable[[str], datetime]
_META_V = re.compile(r"lavfi\.astats\.1\.(RMS_level|Zero_crossings_rate)=(\S+)")


@dataclass(frozen=True)
class Chunk:
    """Half a second of audio."""

    at: datetime
    rms_db: float
    zcr: float


@dataclass(frozen=True)
class Keyframe:
    at: datetime
    thumb: bytes  # THUMB_W x THUMB_H RGB

    @property
    def luma(self) -> float:
        return sum(self.thumb) / len(self.thumb)


@dataclass
class Signals:
    """What one window holds, in wall-clock time."""

    start: datetime
    end: datetime
    chunks: list[Chunk] = field(default_factory=list)
    silences: list[tuple[datetime, datetime]] = field(default_factory=list)
    blacks: list[tuple[datetime, datetime]] = field(default_factory=list)
    freezes: list[tuple[datetime, datetime]] = field(default_factory=list)
    keyframes: list[Keyframe] = field(default_factory=list)
    media_s: float = 0.0  # seconds of recording read


def _graph(meta: Path) -> str:
    audio = (
        f"[0:a:0]aresample={AUDIO_RATE},aformat=channel_layouts=mono,"
        f"silencedetect=n={SILENCE_DB}dB:d={SILENCE_MIN_S},"
        f"asetnsamples=n={int(AUDIO_RATE * CHUNK_S)},"
        "astats=metadata=1:reset=1:measure_overall=none:"
        "measure_perchannel=RMS_level+Zero_crossings_rate,"
        f"ametadata=mode=print:file={meta},anullsink"
    )
    video = (
        "[0:v:0]blackdetect=d=1:pix_th=0.10,"
        f"freezedetect=n=0.003:d={FREEZE_MIN_S},"
        f"scale={THUMB_W}:{THUMB_H},format=rgb24,showinfo[thumbs]"
    )
    return f"{audio};{video}"


def analyse(timeline: Timeline, lo: datetime, hi: datetime, *, timeout_s: float = 600.0) -> Signals:
    """Signals of ``[lo, hi)``; one ffmpeg run per continuous run of the recording."""
    out = Signals(lo, hi)
    for piece in timeline.pieces(lo, hi):
        if not piece.files:
            continue
        origin = piece.start - timedelta(seconds=piece.offset_in)
        _analyse_piece(piece.files, origin, out, timeout_s)
        out.media_s += piece.duration_s
    out.chunks.sort(key=lambda c: c.at)
    out.keyframes.sort(key=lambda k: k.at)
    return out


def _analyse_piece(files: list[Path], origin: datetime, out: Signals, timeout_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="detect-") as tmp:
        work = Path(tmp)
        listing = work / "files.txt"
        listing.write_text("".join(f"{f.resolve()}\n" for f in files))
        meta, thumbs = work / "audio.txt", work / "thumbs.gray"
        res = procs.run(
            [
                procs.ffmpeg(), "-nostdin", "-hide_banner", "-v", "info",
                "-skip_frame", "nokey", "-i", f"concatf:{listing}",
                "-filter_complex", _graph(meta), "-map", "[thumbs]",
                "-fps_mode", "passthrough", "-f", "rawvideo", str(thumbs),
            ],
            timeout=timeout_s,
        )  # fmt: skip
        err = res.stderr

        def at(seconds: str) -> datetime:
            return origin + timedelta(seconds=float(seconds))

        data = thumbs.read_bytes() if thumbs.exists() else b""
        times = _SHOWINFO.findall(err)
        if len(data) != len(times) * THUMB_BYTES:
            raise ToolError(f"ffmpeg gave {len(data)} thumbnail bytes for {len(times)} keyframes")
        for i, t in enumerate(times):
            out.keyframes.append(Keyframe(at(t), data[i * THUMB_BYTES : (i + 1) * THUMB_BYTES]))
        out.chunks.extend(_chunks(meta.read_text() if meta.exists() else "", at))
        out.silences.extend(_spans(_SILENCE.findall(err), at, out.end))
        out.freezes.extend(_spans(_FREEZE.findall(err), at, out.end))
        out.blacks.extend((at(a), at(b)) for a, b in _BLACK.findall(err))


def _spans(
    marks: list[tuple[str, str]], at: Clock, until: datetime
) -> list[tuple[datetime, datetime]]:
    """Pair ``start``/``end`` marks; an open span runs to the window's end."""
    spans: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for kind, value in marks:
        if kind == "start":
            opened = at(value)
        elif opened is not None:
            spans.append((opened, at(value)))
            opened = None
    if opened is not None:
        spans.append((opened, until))
    return spans


def _chunks(text: str, at: Clock) -> list[Chunk]:
    out: list[Chunk] = []
    moment: datetime | None = None
    values: dict[str, float] = {}
    for line in text.splitlines():
        t = _META_T.search(line)
        if t:
            if moment is not None and "RMS_level" in values:
                out.append(Chunk(moment, values["RMS_level"], values.get("Zero_crossings_rate", 0)))
            moment, values = at(t.group(1)), {}
            continue
        v = _META_V.search(line)
        if v:
            raw = v.group(2)
            values[v.group(1)] = -120.0 if raw in ("-inf", "inf", "nan") else float(raw)
    if moment is not None and "RMS_level" in values:
        out.append(Chunk(moment, values["RMS_level"], values.get("Zero_crossings_rate", 0)))
    return out
