"""Sessions cut before a heal: which ones to cut and publish again.

A heal (the capture's, or ``streamer heal`` run on the service's recording) adds media to a
recording after sessions may have been published from it with gaps. It stamps
``recording.json``'s ``heal.filled_at``; an ``incomplete`` session published before that
stamp is re-cut with the healed media and republished (version + 1).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from streamer.capture.timeline import META
from streamer.pipeline.states import SessionState
from streamer.pipeline.store import SessionView, Store
from streamer.timeutil import parse_iso


class HealWatch:
    """Reads each recording's last fill time, again only when its ``recording.json`` changed."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[tuple[int, int], datetime | None]] = {}
        self._handed: dict[str, datetime] = {}  # session key → the fill it was re-cut for

    def filled_at(self, directory: Path) -> datetime | None:
        path = directory / META
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)  # coarse clocks: the size tells rewrites apart
        cached = self._seen.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        found: datetime | None = None
        try:
            heal = json.loads(path.read_text("utf-8")).get("heal")
            if isinstance(heal, dict) and isinstance(heal.get("filled_at"), str):
                found = parse_iso(heal["filled_at"])
        except (OSError, ValueError, AttributeError):
            found = None  # torn or foreign: looked at again when it changes
        self._seen[path] = (stamp, found)
        return found

    def filled_for(self, store: Store, s: SessionView) -> datetime | None:
        """The last fill of a session's recording, read where this process finds it (the
        recording dir here; the distributed planner reads the raw store instead)."""
        rec = store.recording(s.event_id, s.broadcast_id)
        if rec is None or not rec.dir:
            return None
        return self.filled_at(Path(rec.dir))

    def due(self, store: Store, sessions: list[SessionView]) -> list[SessionView]:
        """The incomplete sessions published before their recording was last healed (each
        once per fill)."""
        out = []
        for s in sessions:
            if s.state != SessionState.INCOMPLETE or s.published_at is None:
                continue
            filled = self.filled_for(store, s)
            if filled is not None and filled > s.published_at and self._handed.get(s.key) != filled:
                self._handed[s.key] = filled  # once per fill, even while its re-cut is queued
                out.append(s)
        return out
