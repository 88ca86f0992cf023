"""Where a recording stands in a live playlist, and which entries to take next.

Pure functions of a :class:`Cursor` and a parsed playlist: a stale CDN copy, a sequence
reset, each entry's start time, and the entries still wanted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from streamer.capture.playlist import MediaPlaylist
from streamer.capture.timeline import GAP_TOLERANCE_S

# A resumed recording continues the old part when our last segment is still this close.
RESUME_PDT_TOLERANCE_S = 2.0


@dataclass
class Cursor:
    """The newest kept segment and what the previous playlist said."""

    last_seq: int | None = None
    last_end: datetime | None = None
    prev_media_sequence: int | None = None
    backfill_s: float = 0.0
    # When the recording was asked for: a first playlist that comes late (a slow resolve on a
    # loaded machine) still yields what the window holds since then.
    asked_at: datetime | None = None
    # A new video: its numbering means nothing against ours, take its whole window.
    take_window: bool = False

    def forget_numbering(self) -> None:
        self.last_seq = None
        self.prev_media_sequence = None


def is_stale(cursor: Cursor, playlist: MediaPlaylist) -> bool:
    """A playlist from behind our last segment (a lagging CDN edge), not a reset: it does
    not list our newest segment, every entry has a time, and none ends after it."""
    entries = playlist.entries
    if cursor.last_seq is None or cursor.last_end is None or not entries:
        return False
    if entries[-1].seq >= cursor.last_seq or any(e.pdt is None for e in entries):
        return False
    tolerance = timedelta(seconds=GAP_TOLERANCE_S)
    return all(
        e.pdt is not None and e.pdt + timedelta(seconds=e.duration) <= cursor.last_end + tolerance
        for e in entries
    )


def detect_reset(cursor: Cursor, playlist: MediaPlaylist) -> str | None:
    """Why the playlist does not continue our part, or None."""
    if cursor.last_seq is None or not playlist.entries:
        return None
    prev = cursor.prev_media_sequence
    if prev is not None and playlist.media_sequence < prev:
        return "sequence reset"
    if playlist.entries[-1].seq < cursor.last_seq:
        return "sequence reset"
    if prev is None and cursor.last_end is not None:
        # First playlist after a resume: our last segment must line up in time.
        same = next((e for e in playlist.entries if e.seq == cursor.last_seq), None)
        if same is not None and same.pdt is not None:
            drift = abs((same.pdt + timedelta(seconds=same.duration)) - cursor.last_end)
            if drift.total_seconds() > RESUME_PDT_TOLERANCE_S:
                return "sequence reset"
    return None


def start_time(
    cursor: Cursor, playlist: MediaPlaylist, index: int, fetched_at: datetime
) -> datetime:
    entry = playlist.entries[index]
    if entry.pdt is not None:
        return entry.pdt
    if cursor.last_seq is not None and entry.seq == cursor.last_seq + 1 and cursor.last_end:
        return cursor.last_end
    # No PDT: the newest segment ended about when we fetched the playlist.
    after = sum(e.duration for e in playlist.entries[index:])
    return fetched_at - timedelta(seconds=after)


def wanted(cursor: Cursor, playlist: MediaPlaylist, fetched_at: datetime) -> list[int]:
    """Indexes of the playlist entries to fetch now."""
    entries = playlist.entries
    if cursor.last_seq is not None:
        return [i for i, e in enumerate(entries) if e.seq > cursor.last_seq]
    if cursor.take_window:
        return list(range(len(entries)))
    if cursor.last_end is not None:
        # A new part of a resumed recording, or after a reset: take what is newer.
        floor = cursor.last_end - timedelta(seconds=1)
        return [
            i for i in range(len(entries)) if start_time(cursor, playlist, i, fetched_at) >= floor
        ]
    if not entries:
        return []
    # A fresh recording starts at the live edge (plus the requested backfill).
    edge = start_time(cursor, playlist, len(entries) - 1, fetched_at)
    if cursor.asked_at is not None:
        edge = min(edge, cursor.asked_at)
    since = edge - timedelta(seconds=cursor.backfill_s)
    return [i for i in range(len(entries)) if start_time(cursor, playlist, i, fetched_at) >= since]
