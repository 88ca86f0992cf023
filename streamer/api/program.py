"""An event's program with each session's state and VOD links.

Sources, best first: the orchestrator (``Control.sessions``) for states; the loaded schedules
(``Program``) for the program itself; the published catalog for VOD links. Without an
orchestrator the state is derived: ``published`` when the catalog has the VOD, otherwise
``upcoming`` / ``live`` / ``ended`` by the clock (``skipped`` when ``record: false``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.encoders import jsonable_encoder

from streamer.api.reasons import public_reason
from streamer.api.vodindex import Snapshot, VodEntry
from streamer.pipeline.states import (
    BADGE_ARCHIVED,
    BADGE_LIVE,
    BADGE_PROCESSING,
    BADGE_UNAVAILABLE,
    BADGE_WAITING,
    ClockState,
    ProgramState,
    SessionState,
)
from streamer.schedule.model import Program, Session
from streamer.timeutil import iso, parse_iso, zone
from streamer.vod import vod_id

# Keys the orchestrator decides; other keys of its rows only fill what the program lacks.
CONTROL_KEYS = ("state", "reason", "vod_id")


@dataclass(frozen=True)
class EventProgram:
    event: dict[str, Any]
    sessions: list[dict[str, Any]]

    @property
    def timezone(self) -> str:
        return str(self.event.get("timezone") or "UTC")


def find_program(programs: list[Program], event_id: str) -> Program | None:
    return next((p for p in programs if p.event.id == event_id), None)


def _vod_links(entry: VodEntry | None) -> dict[str, Any]:
    if entry is None:
        return {}
    rec = entry.record
    return {
        "vod_id": entry.id,
        "vod_url": f"/api/v1/vods/{entry.id}",
        "watch_url": f"/watch/{entry.id}",
        "media_url": rec.get("media_url"),
        "thumbnail_url": rec.get("thumbnail_url"),
        "duration_s": rec.get("duration_s"),
    }


def _derived_state(
    session: Session, entry: VodEntry | None, now: datetime
) -> tuple[ProgramState, str]:
    if entry is not None:
        return SessionState.PUBLISHED, "the VOD is published"
    if not session.record:
        return SessionState.SKIPPED, "record: false in the schedule"
    if now < session.start:
        return ClockState.UPCOMING, "starts later"
    if now < session.end:
        return ClockState.LIVE, "in progress"
    return ClockState.ENDED, "not published yet"


def _session_row(
    program: Program, session: Session, snap: Snapshot, now: datetime
) -> dict[str, Any]:
    tz = program.event.tz
    entry = snap.get(vod_id(program.event.id, session.id))
    state, reason = _derived_state(session, entry, now)
    row: dict[str, Any] = {
        "id": session.id,
        "event_id": program.event.id,
        "broadcast": session.broadcast,
        "title": dict(session.title),
        "speakers": [s.model_dump() for s in session.speakers],
        "track": session.track,
        "language": session.language,
        "record": session.record,
        "day": session.start.astimezone(tz).date().isoformat(),
        "start": iso(session.start, tz),
        "end": iso(session.end, tz),
        "state": state,
        "reason": reason,
        "vod_id": None,
        "vod_url": None,
        "watch_url": None,
        "media_url": None,
        "thumbnail_url": None,
    }
    row.update(_vod_links(entry))
    return row


def _vod_row(entry: VodEntry) -> dict[str, Any]:
    rec = entry.record
    row: dict[str, Any] = {
        "id": rec.get("session_id") or entry.id,
        "event_id": entry.event_id,
        "broadcast": rec.get("broadcast_id"),
        "title": rec.get("title"),
        "speakers": rec.get("speakers", []),
        "track": rec.get("track"),
        "language": rec.get("language"),
        "record": True,
        "day": entry.day,
        "start": rec.get("scheduled_start") or rec.get("start"),
        "end": rec.get("scheduled_end") or rec.get("end"),
        "state": SessionState.PUBLISHED,
        "reason": "the VOD is published",
    }
    row.update(_vod_links(entry))
    return row


def event_program(
    event_id: str,
    *,
    programs: list[Program],
    snap: Snapshot,
    now: datetime,
    control_rows: list[dict[str, Any]] | None = None,
) -> EventProgram | None:
    """The program of ``event_id`` with states, or None when no source knows the event."""
    program = find_program(programs, event_id)
    indexed = snap.event(event_id)
    rows: list[dict[str, Any]]
    if program is not None:
        event = program.event.model_dump(mode="json", exclude_none=True)
        rows = [_session_row(program, s, snap, now) for s in program.sessions]
        if indexed is not None:  # published, though no longer (or never) in the schedule
            scheduled = {s.id for s in program.sessions}
            rows += [
                _vod_row(e) for e in indexed.entries if e.record.get("session_id") not in scheduled
            ]
    elif indexed is not None:
        event = dict(indexed.event)
        event.setdefault("id", event_id)
        event.setdefault("timezone", indexed.timezone)
        rows = [_vod_row(e) for e in indexed.entries]
    elif control_rows:
        event = {"id": event_id, "title": {"en": event_id}, "timezone": "UTC"}
        rows = []
    else:
        return None
    if control_rows:
        rows = _overlay(rows, control_rows, event_id, snap)
    for row in rows:  # the internal reason (paths, URLs, exceptions) is for admins only
        row["reason_code"], row["reason"] = public_reason(row.get("state"), row.get("reason"))
    rows.sort(key=lambda r: (_sort_time(r.get("start")), str(r.get("id"))))
    return EventProgram(event=event, sessions=rows)


def _overlay(
    rows: list[dict[str, Any]], control_rows: list[dict[str, Any]], event_id: str, snap: Snapshot
) -> list[dict[str, Any]]:
    by_id = {str(r["id"]): r for r in rows}
    for raw in control_rows:
        extra = jsonable_encoder(raw)
        if not isinstance(extra, dict) or "id" not in extra:
            continue
        sid = str(extra["id"])
        row = by_id.get(sid)
        if row is None:
            row = {"id": sid, "event_id": event_id, "state": ClockState.UNKNOWN, "reason": None}
            row.update(_vod_links(snap.get(vod_id(event_id, sid))))
            by_id[sid] = row
            rows.append(row)
        for key, value in extra.items():
            if key == "vod_id" and value is None and row.get("watch_url"):
                continue  # still in the published index (e.g. while being re-cut): watchable
            if key in CONTROL_KEYS or row.get(key) is None:
                row[key] = value
        if row.get("state") is None:
            row["state"] = ClockState.UNKNOWN
        vid = row.get("vod_id")
        if isinstance(vid, str) and row.get("vod_url") is None:
            row.update(_vod_links(snap.get(vid)) or {"vod_id": vid})
    return rows


def _sort_time(value: Any) -> float:
    if isinstance(value, str):
        try:
            return parse_iso(value).timestamp()
        except ValueError:
            pass
    return float("inf")


def badge(row: dict[str, Any], now: datetime) -> str:
    """The viewer's badge: ``archived``, ``live``, ``upcoming`` or ``unavailable``."""
    state = str(row.get("state") or "")
    if row.get("watch_url") or state in BADGE_ARCHIVED:
        return "archived"
    if state in BADGE_UNAVAILABLE:
        return "unavailable"
    if state in BADGE_LIVE:
        return "live"
    if state in BADGE_PROCESSING:
        return "processing"
    try:
        start = parse_iso(str(row.get("start")))
        end = parse_iso(str(row.get("end")))
    except ValueError:
        return "upcoming"
    if now < start or (state in BADGE_WAITING and now < end):
        return "upcoming"
    if now < end:
        return "live"
    return "processing"


def event_zone_name(name: str) -> str:
    """``name`` when it is a known IANA zone, else ``UTC``."""
    try:
        zone(name)
    except Exception:
        return "UTC"
    return name
