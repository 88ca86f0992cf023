"""The JSON views of the pipeline's state, for ``status --json``, the admin API and the
program: plain functions of the store and the loaded schedules."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from streamer.detect import Edge
from streamer.detect.delay import describe, predict
from streamer.pipeline.marks import MarkStore
from streamer.pipeline.states import SESSION_PUBLISHED
from streamer.pipeline.store import BroadcastView, SessionView, Store
from streamer.schedule.model import Program, title_text
from streamer.timeutil import iso, now
from streamer.youtube import ytdlp_environment


def broadcast_json(b: BroadcastView, tz: ZoneInfo | None = None) -> dict[str, Any]:
    return {
        "id": b.id,
        "event_id": b.event_id,
        "url": b.url,
        "start": iso(b.start, tz),
        "end": iso(b.end, tz),
        "state": b.state,
        "reason": b.reason,
        "live_at": iso(b.live_at) if b.live_at else None,
        "ended_at": iso(b.ended_at) if b.ended_at else None,
    }


def session_json(s: SessionView, program: Program | ZoneInfo | None) -> dict[str, Any]:
    tz = program.event.tz if isinstance(program, Program) else program
    sched = s.scheduled
    return {
        "id": s.id,
        "event_id": s.event_id,
        "broadcast_id": s.broadcast_id,
        "title": sched.title,
        "title_text": title_text(sched.title),
        "speakers": [sp.model_dump() for sp in sched.speakers],
        "track": sched.track,
        "language": sched.language,
        "record": sched.record,
        "start": iso(s.start, tz),
        "end": iso(s.end, tz),
        "day": s.start.astimezone(tz).date().isoformat() if tz else None,
        "state": s.state,
        "reason": s.reason,
        "attempts": s.attempts,
        "coverage": s.coverage,
        "vod_id": s.vod_id if s.state in SESSION_PUBLISHED else None,
        "vod_version": s.vod_version,
        "published_at": iso(s.published_at) if s.published_at else None,
    }


def status_of(
    store: Store, programs: dict[str, Program] | None = None, errors: list[str] | None = None
) -> dict[str, Any]:
    """Everything ``status --json`` and ``GET /api/v1/admin/status`` show."""
    zones: dict[str, Program | ZoneInfo] = {
        e["id"]: ZoneInfo(e["timezone"]) for e in store.events()
    }
    zones.update(programs or {})
    recs = {(r.event_id, r.broadcast_id): r for r in store.recordings()}
    broadcasts = []
    for b in store.broadcasts():
        zone = zones.get(b.event_id)
        row = broadcast_json(b, zone.event.tz if isinstance(zone, Program) else zone)
        rec = recs.get((b.event_id, b.id))
        row["recording"] = (
            {
                "dir": rec.dir,
                "segments": rec.segments,
                "bytes": rec.bytes,
                "gaps": rec.gaps,
                "state": rec.state,
                "reason": rec.reason,
                "updated_at": iso(rec.updated_at),
            }
            if rec
            else None
        )
        broadcasts.append(row)
    sessions = [session_json(s, zones.get(s.event_id)) for s in store.sessions()]
    add_running_delay(store, sessions, zones)
    counts: dict[str, int] = {}
    for s in sessions:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    return {
        "generated_at": iso(now()),
        "events": store.events(),
        "counts": counts,
        "broadcasts": broadcasts,
        "sessions": sessions,
        "schedule_errors": errors or [],
        "log": store.log(20),
        # the most common cause of a failed YouTube recording is an old yt-dlp
        "ytdlp": ytdlp_environment(),
    }


def add_running_delay(
    store: Store, sessions: list[dict[str, Any]], zones: dict[str, Program | ZoneInfo]
) -> None:
    """Each session's predicted window from the start marks in force (issue 13)."""
    views = store.sessions()
    marks = MarkStore(store)
    for event_id in {s.event_id for s in views}:
        zone = zones.get(event_id)
        tz = zone.event.tz if isinstance(zone, Program) else zone or ZoneInfo("UTC")
        known = {m.session_id: m.at for m in marks.in_force(event_id) if m.edge is Edge.START}
        mine = [s.scheduled for s in views if s.event_id == event_id]
        for sid, p in predict(mine, known, tz).items():
            for row in sessions:
                if row["event_id"] == event_id and row["id"] == sid:
                    row["predicted_start"] = iso(p.start, tz)
                    row["predicted_end"] = iso(p.end, tz)
                    row["delay_s"] = round(p.delay_s, 1)
                    row["delay_text"] = describe(p.delay_s)
