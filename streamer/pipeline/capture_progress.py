"""A recording's progress as it goes: the capture metrics per kept segment, and its recording
row every ten segments or on a new gap or status (coalesced while the DB is busy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamer import metrics
from streamer.pipeline.capture_writes import CaptureWrites


class CaptureProgress:
    """The last figures of each recording, by ``event.broadcast`` key."""

    def __init__(self, db: CaptureWrites, owned: Callable[[], bool]) -> None:
        self.db = db
        self.owned = owned
        self._progress: dict[str, dict[str, Any]] = {}

    def begin(self, key: str) -> None:
        self._progress[key] = {}

    def figures(self, key: str) -> dict[str, Any]:
        """The last figures reported for ``key`` (empty before any)."""
        return self._progress.get(key, {})

    def on_progress(self, event_id: str, broadcast_id: str, p: Any) -> None:
        """A kept segment (or a status change): metrics now, the recording row through the
        writer (coalesced while the DB is busy)."""
        if not self.owned():
            return
        key = f"{event_id}.{broadcast_id}"
        before = self._progress.get(key, {})
        segments, nbytes, gaps = int(p.segments), int(p.bytes), int(p.gaps)
        metrics.CAPTURED_SEGMENTS.labels(broadcast=key).inc(
            max(0, segments - before.get("segments", 0))
        )
        metrics.CAPTURED_BYTES.labels(broadcast=key).inc(max(0, nbytes - before.get("bytes", 0)))
        metrics.GAPS.labels(broadcast=key).inc(max(0, gaps - before.get("gaps", 0)))
        now_ = {"segments": segments, "bytes": nbytes, "gaps": gaps}
        fields: dict[str, Any] = {}
        status = str(getattr(p, "status", "recording"))
        if status != before.get("status", "recording"):
            # e.g. "recording; re-resolve backing off 48s (playlist HTTP 403)": say so
            fields["reason"] = status
        saved = before.get("saved", 0)
        if segments - saved >= 10 or gaps != before.get("gaps", 0):
            saved = segments
            fields.update(now_)
        if fields:
            self.db.writes.progress(key, self.db.progress_write(event_id, broadcast_id), **fields)
        self._progress[key] = {**now_, "status": status, "saved": saved}
