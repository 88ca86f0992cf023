"""Put an MP4's ``moov`` in front of its media (what ``-movflags +faststart`` does) and hash the
bytes as they are written: the split's only pass over its output after ffmpeg wrote it.

ffmpeg's own faststart reads the whole file back and writes it again; doing that move here
instead lets the sha256 for the VOD record ride along, so the output is not read a third time.
What a probe would say about the finished file (duration, size, codecs, frame count) is read
from the same ``moov`` while its chunk offsets are moved.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streamer.errors import SplitError

CHUNK = 4 * 1024 * 1024
# boxes whose children lead to the chunk offset tables and the stream descriptions
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
CODECS = {b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc", b"mp4a": "aac"}


@dataclass(frozen=True)
class Mp4Info:
    """What the finished file holds, from its ``moov`` (as ffprobe would report it)."""

    duration_s: float
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    video_frames: int | None


@dataclass(frozen=True)
class Written:
    path: Path
    size: int
    sha256: str
    info: Mp4Info
    moov_first: bool = True  # the moov comes before the media (what faststart means)


def _boxes(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of the boxes in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            raise SplitError(f"malformed MP4 box {kind!r} at {pos}")
        yield kind, pos, pos + head, pos + size
        pos += size


def _top_level(path: Path) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of a file's top-level boxes, reading only their headers."""
    out: list[tuple[bytes, int, int]] = []
    total = path.stat().st_size
    with open(path, "rb") as f:
        pos = 0
        while pos + 8 <= total:
            f.seek(pos)
            head = f.read(16)
            size, kind = struct.unpack_from(">I4s", head)
            if size == 1:
                (size,) = struct.unpack_from(">Q", head, 8)
            elif size == 0:
                size = total - pos
            if size < 8 or pos + size > total:
                raise SplitError(f"malformed MP4 box {kind!r} at {pos} in {path.name}")
            out.append((kind, pos, size))
            pos += size
    return out


class _Moov:
    """Walks a ``moov``: shifts the chunk offsets and collects what the record needs."""

    def __init__(self, moov: bytearray) -> None:
        self.data = moov
        self.timescale = 0
        self.duration = 0
        self.tracks: list[dict[str, object]] = []

    def walk(self, shift: int) -> Mp4Info:
        self._visit(0, len(self.data), shift, None)
        video = next((t for t in self.tracks if t.get("handler") == b"vide"), {})
        audio = next((t for t in self.tracks if t.get("handler") == b"soun"), {})
        frames = video.get("samples")
        return Mp4Info(
            duration_s=self.duration / self.timescale if self.timescale else 0.0,
            width=_int_or_none(video.get("width")),
            height=_int_or_none(video.get("height")),
            video_codec=_codec(video.get("format")),
            audio_codec=_codec(audio.get("format")),
            video_frames=frames if isinstance(frames, int) else None,
        )

    def _visit(self, start: int, end: int, shift: int, track: dict[str, object] | None) -> None:
        d = self.data
        for kind, _, body, stop in _boxes(d, start, end):
            if kind == b"trak":
                track = {}
                self.tracks.append(track)
            if kind in CONTAINERS:
                self._visit(body, stop, shift, track)
            elif kind == b"mvhd":
                if d[body] == 1:
                    self.timescale, self.duration = struct.unpack_from(">IQ", d, body + 20)
                else:
                    self.timescale, self.duration = struct.unpack_from(">II", d, body + 12)
            elif track is not None and kind == b"tkhd":
                w, h = struct.unpack_from(">II", d, stop - 8)  # 16.16 fixed point
                track["width"], track["height"] = w >> 16, h >> 16
            elif track is not None and kind == b"hdlr":
                track["handler"] = bytes(d[body + 8 : body + 12])
            elif track is not None and kind == b"stsd":
                track["format"] = bytes(d[body + 12 : body + 16])  # the first entry's type
            elif track is not None and kind == b"stsz":
                track["samples"] = struct.unpack_from(">I", d, body + 8)[0]
            elif kind in (b"stco", b"co64"):
                self._shift(kind, body, shift)

    def _shift(self, kind: bytes, body: int, shift: int) -> None:
        if shift == 0:  # read only (``describe``): nothing moves
            return
        (count,) = struct.unpack_from(">I", self.data, body + 4)
        fmt = f">{count}{'I' if kind == b'stco' else 'Q'}"
        limit = 0xFFFFFFFF if kind == b"stco" else 0xFFFFFFFFFFFFFFFF
        # one unpack and one pack for the whole table: a struct call per entry cost ~0.1 CPU-s
        # per 10-minute VOD
        offsets = struct.unpack_from(fmt, self.data, body + 8)
        if offsets and max(offsets) + shift > limit:
            raise _TooLarge
        struct.pack_into(fmt, self.data, body + 8, *(o + shift for o in offsets))


class _TooLarge(Exception):
    """32-bit chunk offsets that would overflow once moved."""


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _codec(fourcc: object) -> str | None:
    if not isinstance(fourcc, bytes):
        return None
    return CODECS.get(fourcc, fourcc.decode("latin-1").strip() or None)


def faststart(src: Path, dst: Path) -> Written | None:
    """Write ``dst``: ``src`` with its ``moov`` moved before the media, hashed while written.

    None when the move is not for here (32-bit offsets that would overflow past 4 GiB): the
    caller then lets ffmpeg do it. ``src`` is left as it is.
    """
    boxes = _top_level(src)
    kinds = [k for k, _, _ in boxes]
    if b"moov" not in kinds or b"mdat" not in kinds:
        raise SplitError(f"{src.name} is not a complete MP4 (no moov or mdat)")
    moov_at = kinds.index(b"moov")
    first_media = kinds.index(b"mdat")
    _, moov_pos, moov_size = boxes[moov_at]
    with open(src, "rb") as f:
        f.seek(moov_pos)
        moov = bytearray(f.read(moov_size))
    if moov_at < first_media:  # already in front: copy as it is
        shift, insert = 0, None
    else:
        shift, insert = moov_size, boxes[first_media][1]
    try:
        info = _Moov(moov).walk(shift)
    except _TooLarge:
        return None
    # the byte ranges of src in the new order, with the moov's bytes in front of the media
    ranges: list[tuple[int, int] | bytearray] = []
    for i, (_, pos, size) in enumerate(boxes):
        if i == moov_at and insert is not None:
            continue
        if insert is not None and pos == insert:
            ranges.append(moov)
        ranges.append(moov if i == moov_at else (pos, size))
    digest = hashlib.sha256()
    written = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(src, "rb") as f, open(dst, "wb") as out:
        for item in ranges:
            if isinstance(item, bytearray):
                digest.update(item)
                out.write(item)
                written += len(item)
                continue
            pos, left = item
            f.seek(pos)
            while left > 0:
                n = f.readinto(view[: min(CHUNK, left)])
                if not n:
                    raise SplitError(f"{src.name} ended early at byte {pos}")
                digest.update(view[:n])
                out.write(view[:n])
                left -= n
                pos += n
                written += n
    return Written(dst, written, digest.hexdigest(), info)


def describe(path: Path) -> Written:
    """What :func:`faststart` returns, for a file already written (read once, to hash)."""
    boxes = _top_level(path)
    kinds = [k for k, _, _ in boxes]
    moov = next(((pos, size) for kind, pos, size in boxes if kind == b"moov"), None)
    if moov is None:
        raise SplitError(f"{path.name} is not a complete MP4 (no moov)")
    first = b"mdat" not in kinds or kinds.index(b"moov") < kinds.index(b"mdat")
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    with open(path, "rb", buffering=0) as f:
        f.seek(moov[0])
        info = _Moov(bytearray(f.read(moov[1]))).walk(0)
        f.seek(0)
        while n := f.readinto(buf):
            digest.update(view[:n])
            size += n
    return Written(path, size, digest.hexdigest(), info, first)
