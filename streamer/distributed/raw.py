"""Raw recordings reachable from every worker: ship to object storage, read through a cache.

A capture worker ships its recording directory as it grows, under
``{raw prefix}/{event}/{broadcast}/`` with the same layout as on disk (``timeline.jsonl``,
``recording.json``, ``part-NNN/SEQ.ts``). Segments go first and the timeline after them, so
the stored timeline never names a segment that is not stored yet. A split worker on another
machine pulls what its window needs into its own data dir, and keeps it as a cache.

Each upload is preceded by ``fence()`` (the capture lease's check), so a worker that lost its
lease stops shipping before it can overwrite the new owner's timeline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamer.capture.timeline import META, TIMELINE
from streamer.errors import NotFound, StorageError
from streamer.files import atomic_write
from streamer.publish.storage import Storage
from streamer.timeutil import parse_iso

log = logging.getLogger(__name__)

PRIVATE = "private, no-store"  # raw media is not for the public CDN


def raw_root(prefix: str, event_id: str, broadcast_id: str) -> str:
    return "/".join(p.strip("/") for p in (prefix, event_id, broadcast_id) if p.strip("/"))


def _complete_lines(data: bytes) -> bytes:
    """Up to the last newline: a line still being appended is left for the next round."""
    cut = data.rfind(b"\n")
    return data[: cut + 1] if cut >= 0 else b""


def _segment_rows(timeline: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for line in timeline.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("t") == "seg" and isinstance(row.get("file"), str):
            rows.append(row)
    return rows


def _safe_rel(rel: str) -> str:
    """A timeline's file name, refused if it could leave the recording directory."""
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        raise StorageError(f"unsafe segment path in a stored timeline: {rel!r}")
    return rel


class RawShipper:
    """Uploads what is new in one recording directory each time ``ship()`` is called."""

    def __init__(
        self,
        storage: Storage,
        root: str,
        directory: Path,
        *,
        fence: Callable[[], None] = lambda: None,
    ) -> None:
        self.storage = storage
        self.root = root
        self.directory = Path(directory)
        self.fence = fence
        self._shipped: set[str] = set()
        self._versions: dict[str, bytes] = {}  # small files: the digest last shipped

    def resume(self) -> None:
        """Learn what an earlier owner (or an earlier run) already stored."""
        prefix = f"{self.root}/"
        self._shipped = {k[len(prefix) :] for k in self.storage.list(prefix) if k.endswith(".ts")}

    def ship(self) -> int:
        """Upload new segments, then the timeline and metadata when changed; objects sent."""
        path = self.directory / TIMELINE
        timeline = _complete_lines(path.read_bytes()) if path.exists() else b""
        sent = 0
        for row in _segment_rows(timeline):
            rel = _safe_rel(row["file"])
            if rel in self._shipped:
                continue
            local = self.directory / rel
            self.fence()
            self.storage.put_file(
                f"{self.root}/{rel}",
                local,
                content_type="video/mp2t",
                cache_control=PRIVATE,
                sha256=hashlib.sha256(local.read_bytes()).hexdigest(),
            )
            self._shipped.add(rel)
            sent += 1
        meta = self.directory / META
        for name, data in (
            (TIMELINE, timeline),
            (META, meta.read_bytes() if meta.exists() else b""),
        ):
            digest = hashlib.sha256(data).digest()
            if not data or self._versions.get(name) == digest:
                continue
            self.fence()
            kind = "application/x-ndjson" if name == TIMELINE else "application/json"
            self.storage.put_bytes(
                f"{self.root}/{name}", data, content_type=kind, cache_control=PRIVATE
            )
            self._versions[name] = digest
            sent += 1
        return sent


def pull(
    storage: Storage,
    root: str,
    directory: Path,
    *,
    window: tuple[datetime, datetime] | None = None,
) -> int:
    """Bring a stored recording into ``directory`` (a read-through cache); files fetched.

    With ``window``, only segments overlapping it are fetched. Files already here at the
    right size are kept. Raises NotFound when nothing was shipped for this broadcast.
    """
    timeline = storage.get_bytes(f"{root}/{TIMELINE}")
    fetched = 0
    for row in _segment_rows(timeline):
        if window is not None and not _overlaps(row, window):
            continue
        rel = _safe_rel(row["file"])
        local = directory / rel
        if local.exists() and local.stat().st_size == row.get("bytes"):
            continue
        atomic_write(local, storage.get_bytes(f"{root}/{rel}"))
        fetched += 1
    with contextlib.suppress(NotFound):  # informative only; the timeline is what a split needs
        atomic_write(directory / META, storage.get_bytes(f"{root}/{META}"))
    # last: a reader that finds the timeline finds every segment it names in the window
    atomic_write(directory / TIMELINE, timeline)
    return fetched


def _overlaps(row: dict[str, Any], window: tuple[datetime, datetime]) -> bool:
    try:
        start = parse_iso(str(row["start"]))
        dur = float(row.get("dur", 0))
    except (KeyError, ValueError, TypeError):
        return True  # cannot tell: fetch it
    return start < window[1] and start + timedelta(seconds=dur) > window[0]
