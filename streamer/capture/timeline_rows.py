"""Reading ``timeline.jsonl`` into typed rows, parsing only what was appended since last time.

Status, the split and the capture read a recording's timeline again and again while it grows
(a day of 2 s segments is ~15,000 rows, ~0.3 s of JSON to parse). The rows parsed so far are
kept per file with the CRC of the bytes they came from: when the file still starts with those
bytes, only the rest is parsed. Any other change (rewritten, truncated, replaced) is a full
read. Rows are immutable (frozen dataclasses and tuples), so a cached one can be shared.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamer.capture.timeline_model import Gap, Segment
from streamer.timeutil import parse_iso

log = logging.getLogger(__name__)

CACHED_FILES = 16  # recordings whose parsed rows are kept (a few MB each for a long day)

# ("seg", Segment) | ("gap", Gap) | ("part", n, reason) | ("end", state, reason) | ("start",)
Row = tuple[Any, ...]


@dataclass(frozen=True)
class _Parsed:
    size: int  # bytes parsed: whole lines only
    crc: int  # zlib.crc32 of those bytes
    rows: tuple[Row, ...]


_cache: OrderedDict[str, _Parsed] = OrderedDict()
_lock = threading.Lock()


def read_rows(path: Path) -> list[Row]:
    """The rows of a timeline file in order; none when it does not exist. Lines that are not
    JSON objects (a torn last line after a crash) are skipped, and so are rows with a missing
    or malformed field (logged): one damaged row must not make the recording unreadable."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    key = os.path.abspath(path)
    with _lock:
        known = _cache.get(key)
    rows: list[Row] = []
    start = 0
    if (
        known is not None
        and len(data) >= known.size
        and zlib.crc32(memoryview(data)[: known.size]) == known.crc
    ):
        rows, start = list(known.rows), known.size
    whole = data.rfind(b"\n", start) + 1 or start  # a line without its newline yet: not kept
    rows.extend(_parse(data, start, whole))
    parsed = _Parsed(whole, zlib.crc32(memoryview(data)[:whole]), tuple(rows))
    with _lock:
        _cache[key] = parsed
        _cache.move_to_end(key)
        while len(_cache) > CACHED_FILES:
            _cache.popitem(last=False)
    rows.extend(_parse(data, whole, len(data)))  # a complete last row with no newline counts
    return rows


def _parse(data: bytes, start: int, end: int) -> list[Row]:
    out: list[Row] = []
    for line in data[start:end].split(b"\n"):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a torn line (UnicodeDecodeError is a ValueError too)
        if not isinstance(row, dict):
            continue
        try:
            typed = _typed(row)
        except (KeyError, TypeError, ValueError) as exc:  # parsed once per line: logged once
            log.warning("timeline row skipped, %s: %r", type(exc).__name__, line[:200])
            continue
        if typed is not None:
            out.append(typed)
    return out


def _typed(row: dict[str, Any]) -> Row | None:
    kind = row.get("t")
    if kind == "seg":
        return (
            "seg",
            Segment(
                part=int(row["part"]),
                seq=int(row["seq"]),
                start=parse_iso(row["start"]),
                duration=float(row["dur"]),
                bytes=int(row["bytes"]),
                file=str(row["file"]),
                pdt=bool(row.get("pdt", True)),
                src=str(row.get("src", "live")),
            ),
        )
    if kind == "gap":
        return ("gap", Gap(parse_iso(row["start"]), parse_iso(row["end"]), row.get("reason", "")))
    if kind == "part":
        return ("part", int(row["part"]), str(row.get("reason", "")))
    if kind == "end":
        return ("end", row.get("state"), row.get("reason"))
    if kind == "start":  # a resumed recording is open again
        return ("start",)
    return None


class Listing:
    """Which files a recording holds: one directory listing per folder, read when first asked,
    instead of a stat per segment. The timeline is read before any listing, and a row is
    written only after its file, so every file a row names is there to be listed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: dict[str, frozenset[str]] = {}

    def has(self, rel: str) -> bool:
        folder, _, name = rel.rpartition("/")
        names = self.folders.get(folder)
        if names is None:
            names = self.folders[folder] = self._list(self.root / folder if folder else self.root)
        return name in names

    @staticmethod
    def _list(folder: Path) -> frozenset[str]:
        try:
            with os.scandir(folder) as entries:
                return frozenset(e.name for e in entries if e.is_file())
        except OSError:
            return frozenset()
