"""The schedule in the state DB: upsert a program, and rebuild one from the DB."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from streamer.errors import NotFoundError
from streamer.pipeline.rows import (
    BroadcastRow,
    Diff,
    EventRow,
    SessionRow,
    log_transition,
    move_session,
)
from streamer.pipeline.states import SESSION_PROCESSABLE, SESSION_PUBLISHED, B, S
from streamer.schedule.model import Broadcast, CutPolicy, Event, Program
from streamer.schedule.model import Session as ScheduledSession
from streamer.timeutil import now


def sync_program(db: Session, program: Program) -> Diff:
    """Upsert one event's broadcasts and sessions; report what changed.

    A session removed from the schedule is dropped unless it was published, in which
    case it is kept (and reported) so that its VOD is not orphaned.
    """
    stamp = now()
    _sync_event(db, program, stamp)
    gone_b = _sync_broadcasts(db, program, stamp)
    diff = _sync_sessions(db, program, stamp)
    for bid, brow in gone_b.items():
        in_use = db.scalars(
            select(SessionRow).where(
                SessionRow.event_id == program.event.id, SessionRow.broadcast_id == bid
            )
        ).first()
        if in_use is None:
            db.delete(brow)
        else:
            brow.removed = True
    return diff


def _sync_event(db: Session, program: Program, stamp: datetime) -> None:
    ev = program.event
    row = db.get(EventRow, ev.id)
    title = json.dumps(ev.title, ensure_ascii=False)
    if row is None:
        row = EventRow(id=ev.id)
        db.add(row)
    row.title, row.timezone, row.source, row.updated_at = (
        title,
        ev.timezone,
        program.source,
        stamp,
    )
    row.cut_policy = ev.cut_policy.value


def _sync_broadcasts(db: Session, program: Program, stamp: datetime) -> dict[str, BroadcastRow]:
    """Upsert the broadcasts; returns the rows the schedule no longer has."""
    ev = program.event
    known_b = {
        b.id: b for b in db.scalars(select(BroadcastRow).where(BroadcastRow.event_id == ev.id))
    }
    for b in program.broadcasts:
        brow = known_b.pop(b.id, None)
        day = b.day.isoformat() if b.day is not None else None
        if brow is None:
            db.add(
                BroadcastRow(
                    event_id=ev.id,
                    id=b.id,
                    url=b.url,
                    start=b.start,
                    end=b.end,
                    state=B.PLANNED.value,
                    removed=False,
                    updated_at=stamp,
                    day=day,
                )
            )
        else:
            brow.url, brow.start, brow.end, brow.removed = b.url, b.start, b.end, False
            brow.day = day
    db.flush()
    return known_b


def _sync_sessions(db: Session, program: Program, stamp: datetime) -> Diff:
    diff = Diff()
    ev = program.event
    known_s = {s.id: s for s in db.scalars(select(SessionRow).where(SessionRow.event_id == ev.id))}
    for s in program.sessions:
        data = s.model_dump_json()
        srow = known_s.pop(s.id, None)
        if srow is None:
            state = S.PLANNED if s.record else S.SKIPPED
            db.add(
                SessionRow(
                    event_id=ev.id,
                    id=s.id,
                    broadcast_id=s.broadcast,
                    start=s.start,
                    end=s.end,
                    data=data,
                    state=state,
                    attempts=0,
                    updated_at=stamp,
                )
            )
            log_transition(db, "session", ev.id, s.id, None, state, "added by schedule")
            diff.added.append(s.id)
        elif srow.data != data:
            srow.broadcast_id, srow.start, srow.end, srow.data = (
                s.broadcast,
                s.start,
                s.end,
                data,
            )
            srow.updated_at = stamp
            if not s.record and srow.state in SESSION_PROCESSABLE:
                move_session(db, srow, S.SKIPPED, "record: false in the schedule")
            elif s.record and srow.state == S.SKIPPED:
                move_session(db, srow, S.PLANNED, "record: true in the schedule")
            log_transition(db, "schedule", ev.id, s.id, None, None, "changed by schedule")
            diff.changed.append(s.id)
    for sid, srow in known_s.items():
        if srow.state in SESSION_PUBLISHED:
            diff.kept.append(sid)
            continue
        log_transition(db, "session", ev.id, sid, srow.state, None, "removed from schedule")
        db.delete(srow)
        diff.removed.append(sid)
    db.flush()
    return diff


def program_of(db: Session, event_id: str) -> Program:
    """Rebuild an event's program from the DB, so that any process can run a stage."""
    ev = db.get(EventRow, event_id)
    if ev is None:
        raise NotFoundError(f"unknown event {event_id!r}")
    srows = db.scalars(select(SessionRow).where(SessionRow.event_id == event_id))
    sessions = [ScheduledSession.model_validate_json(r.data) for r in srows]
    used = {s.broadcast for s in sessions}
    brows = db.scalars(select(BroadcastRow).where(BroadcastRow.event_id == event_id))
    # a broadcast gone from the schedule stays while a kept session still needs it
    broadcasts = [
        Broadcast(
            id=b.id,
            url=b.url,
            start=b.start,
            end=b.end,
            day=date.fromisoformat(b.day) if b.day else None,
        )
        for b in brows
        if not b.removed or b.id in used
    ]
    event_model = Event(
        id=ev.id,
        title=json.loads(ev.title),
        timezone=ev.timezone,
        cut_policy=CutPolicy(ev.cut_policy or "schedule"),
    )
    return Program(
        event=event_model,
        broadcasts=sorted(broadcasts, key=lambda b: b.start),
        sessions=sorted(sessions, key=lambda s: s.start),
        source=ev.source,
    )
