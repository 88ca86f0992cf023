"""Just enough ISO BMFF (fragmented MP4) to read a YouTube live fragment's own timing.

A fragment (``base_url&sq=N``) is self-initialising: ``ftyp``/``moov`` (the init), then
YouTube's metadata lines (``Sequence-Number: N``, ``Ingestion-Walltime-Us: ...``,
``Target-Duration-Us: ...``), then ``moof``/``mdat``. The media time of the first sample is
the ``tfdt`` of the first ``moof`` in the ``mdhd`` timescale of the ``moov``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from streamer.errors import CaptureError

# YouTube's metadata: "Name: value\r\n" lines inside the first kilobytes of the fragment.
_META = re.compile(rb"([A-Z][A-Za-z-]{2,40}): ([0-9A-Za-z_.-]{1,40})\r?\n")
META_SCAN_BYTES = 4096
INIT_BOXES = (b"ftyp", b"moov")


@dataclass(frozen=True)
class Fragment:
    """One parsed fragment: where its media starts and the bytes without the init boxes."""

    sq: int | None  # Sequence-Number, when the fragment says
    media_start: float  # seconds of media time (tfdt / timescale)
    timescale: int
    wall_us: int | None  # Ingestion-Walltime-Us: wall-clock of the first frame
    target_us: int | None  # Target-Duration-Us
    init: bytes  # ftyp + moov of this fragment (b"" when it has none)
    media: bytes  # everything after the init (moof/mdat...)


def boxes(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise CaptureError("truncated 64-bit box header")
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise CaptureError(f"box {kind!r} at {pos} overruns the fragment ({size} bytes)")
        yield kind, pos, pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, path: tuple[bytes, ...]) -> tuple[int, int] | None:
    for kind, _at, payload, box_end in boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return payload, box_end
            return _child(data, payload, box_end, path[1:])
    return None


def timescale(init: bytes) -> int:
    """The first track's ``mdhd`` timescale."""
    found = _child(init, 0, len(init), (b"moov", b"trak", b"mdia", b"mdhd"))
    if found is None:
        raise CaptureError("no moov/trak/mdia/mdhd in the init")
    pos = found[0]
    version = init[pos]
    offset = pos + 4 + (16 if version == 1 else 8)
    return int(struct.unpack_from(">I", init, offset)[0])


def base_media_decode_time(data: bytes) -> int:
    """The first ``moof/traf/tfdt`` value."""
    found = _child(data, 0, len(data), (b"moof", b"traf", b"tfdt"))
    if found is None:
        raise CaptureError("no moof/traf/tfdt: not a media fragment")
    pos = found[0]
    version = data[pos]
    if version == 1:
        return int(struct.unpack_from(">Q", data, pos + 4)[0])
    return int(struct.unpack_from(">I", data, pos + 4)[0])


def metadata(data: bytes) -> dict[str, str]:
    """YouTube's ``Name: value`` lines near the start of a fragment."""
    return {k.decode(): v.decode() for k, v in _META.findall(data[:META_SCAN_BYTES])}


def _int(meta: dict[str, str], name: str) -> int | None:
    value = meta.get(name)
    return int(value) if value is not None and value.isdigit() else None


def parse(data: bytes, init: bytes | None = None) -> Fragment:
    """Parse a fragment; ``init`` is used when the fragment carries none of its own."""
    own = bytearray()
    media_at = None
    for kind, at, _payload, box_end in boxes(data):
        if kind in INIT_BOXES:
            own += data[at:box_end]
        elif kind == b"moof":
            media_at = at
            break
    if media_at is None:
        raise CaptureError("no moof box: not an fMP4 media fragment")
    init_bytes = bytes(own) or (init or b"")
    if not init_bytes:
        raise CaptureError("fragment without an init (ftyp/moov) and none known")
    scale = timescale(init_bytes)
    if scale <= 0:
        raise CaptureError("timescale 0 in the init")
    media = data[media_at:]
    meta = metadata(data)
    return Fragment(
        sq=_int(meta, "Sequence-Number"),
        media_start=base_media_decode_time(media) / scale,
        timescale=scale,
        wall_us=_int(meta, "Ingestion-Walltime-Us"),
        target_us=_int(meta, "Target-Duration-Us"),
        init=bytes(own),
        media=media,
    )
