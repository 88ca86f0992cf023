"""Writing a recording: segment files atomically and durably, then their timeline rows.

The rows are those of :mod:`streamer.capture.timeline`; a row names only a complete file.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from streamer.capture.timeline_model import META, TIMELINE, Segment
from streamer.files import atomic_write
from streamer.timeutil import iso, now


class TimelineWriter:
    """Appends rows durably and writes segment files atomically.

    Durability policy: a segment file is written to a temporary name, ``fdatasync``-ed and
    renamed into place *before* its row is appended, so the timeline never names a file that
    a power cut could lose. Rows reach the file (the page cache, so every reader sees them)
    at once. With ``sync_interval_s`` > 0, segment rows are ``fdatasync``-ed at most that
    often (and always with the next part, gap, start or end row, and on close) instead of
    one sync per row: a power cut (a process crash loses nothing written) can then drop at
    most the rows of the last interval, whose segments are fetched again from the source's
    window on restart, as long as the window is longer than the interval."""

    def __init__(
        self,
        directory: Path,
        *,
        sync_interval_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.sync_interval_s = sync_interval_s
        self.clock = clock
        self._synced_at = clock()
        self._unsynced = False
        self._tmp_names = itertools.count()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / TIMELINE
        torn = path.exists() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115
        if torn:  # a crash cut the last row: end it, so the next row is a line of its own
            self._fh.write("\n")
            self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed and self._unsynced:
            self._sync()
        self._fh.close()

    def __enter__(self) -> TimelineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _append(self, row: dict[str, Any], *, lazy: bool = False) -> None:
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        if lazy and self.clock() - self._synced_at < self.sync_interval_s:
            self._unsynced = True
            return
        self._sync()

    def _sync(self) -> None:
        os.fdatasync(self._fh.fileno())  # appends change the size: fdatasync writes it too
        self._synced_at = self.clock()
        self._unsynced = False

    def _write_file(self, rel: str, data: bytes) -> None:
        """``data`` into ``rel`` atomically and durably (temp file, fdatasync, rename)."""
        path = self.directory / rel
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(self._tmp_names)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fdatasync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write(self.directory / META, json.dumps(meta, indent=2).encode())

    def write_segment(
        self,
        part: int,
        seq: int,
        data: bytes,
        start: datetime,
        duration: float,
        pdt: bool,
        src: str = "live",
    ) -> Segment:
        rel = f"part-{part:03d}/{seq:010d}.ts"
        self._write_file(rel, data)
        seg = Segment(part, seq, start, duration, len(data), rel, pdt, src)
        row: dict[str, Any] = {
            "t": "seg",
            "part": part,
            "seq": seq,
            "start": iso(start),
            "dur": duration,
            "bytes": len(data),
            "file": rel,
            "pdt": pdt,
        }
        if src != "live":
            row["src"] = src
        self._append(row, lazy=True)
        return seg

    def new_part(self, part: int, reason: str) -> None:
        self._append({"t": "part", "part": part, "reason": reason, "at": iso(now())})

    def gap(self, start: datetime, end: datetime, reason: str) -> None:
        self._append({"t": "gap", "start": iso(start), "end": iso(end), "reason": reason})

    def start(self) -> None:
        self._append({"t": "start", "at": iso(now())})

    def end(self, state: str, reason: str) -> None:
        self._append({"t": "end", "state": state, "reason": reason, "at": iso(now())})


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)
