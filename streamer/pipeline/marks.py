"""Operator marks ("started now", "ended now") in the state DB, with who, when and from where.

Its own table on the store's engine, so the store's schema and migrations stay untouched. Every
mark is kept (the history is the audit log); the latest per session and edge is the one used.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from streamer.detect import Edge, Mark
from streamer.detect.delay import Predicted, predict
from streamer.errors import InvalidRequest, StateError
from streamer.pipeline.audit import Action, AuditLog
from streamer.pipeline.rows import UTCDateTime
from streamer.pipeline.store import Store
from streamer.timeutil import iso, now

# A late day runs past the broadcast's scheduled end; a mark up to this much later is accepted.
LATE_SLACK_S = 60 * 60.0


class _Base(DeclarativeBase):
    pass


class MarkRow(_Base):
    __tablename__ = "marks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80), index=True)
    session_id: Mapped[str] = mapped_column(String(80), index=True)
    edge: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(40))  # cli | api | desk
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class MarkRecord:
    event_id: str
    session_id: str
    edge: Edge
    at: datetime
    by: str
    source: str
    made_at: datetime
    id: int = 0  # the row's, in the order marks were stored

    def to_json(self) -> dict[str, str]:
        return {
            "event_id": self.event_id,
            "session_id": self.session_id,
            "edge": self.edge.value,
            "at": iso(self.at),
            "by": self.by,
            "source": self.source,
            "made_at": iso(self.made_at),
        }

    def as_mark(self) -> Mark:
        return Mark(self.session_id, self.edge, self.at, self.by)


def _record(row: MarkRow) -> MarkRecord:
    return MarkRecord(
        row.event_id,
        row.session_id,
        Edge(row.edge),
        row.at,
        row.by,
        row.source,
        row.made_at,
        row.id,
    )


_CREATE = threading.Lock()


class MarkStore:
    """Marks beside the store's tables (same DB, same engine)."""

    def __init__(self, store: Store, *, slack_s: float = LATE_SLACK_S) -> None:
        self.store = store
        self.slack_s = slack_s
        try:
            with _CREATE:  # two threads creating the table at once: one would fail
                _Base.metadata.create_all(store.engine)
        except SQLAlchemyError as exc:
            raise StateError(f"state DB error: {exc}") from exc

    def _tx(self) -> AbstractContextManager[Session]:
        # the store's own transaction: one error translation (a lock held too long included)
        return self.store._tx()

    def add(
        self,
        session_ref: str,
        edge: Edge,
        at: datetime | None = None,
        *,
        by: str,
        source: str,
        clock: datetime | None = None,
    ) -> MarkRecord:
        """Store a mark (``at`` defaults to now). Refused, with nothing stored: an unknown
        session, a naive time, a time outside the broadcast, or an end not after the start."""
        made = clock or now()
        at = at or made
        if at.tzinfo is None:
            raise InvalidRequest(f"mark time {at.isoformat()} has no UTC offset")
        s = self.store.find_session(session_ref)
        b = self.store.broadcast(s.event_id, s.broadcast_id)
        # a day running late is followed past its scheduled end: so are its marks
        until = broadcast_until(self.store, s.event_id, s.broadcast_id)
        if not b.start <= at <= until + timedelta(seconds=self.slack_s):
            raise InvalidRequest(
                f"{iso(at)} is outside broadcast {b.id} ({iso(b.start)} .. {iso(until)}"
                f" + {self.slack_s / 60:.0f} min)"
            )
        other = self.latest(s.event_id, s.id).get(Edge.END if edge is Edge.START else Edge.START)
        if other is not None:
            start, end = (at, other.at) if edge is Edge.START else (other.at, at)
            if end <= start:
                raise InvalidRequest(
                    f"session {s.key}: end {iso(end)} would not come after start {iso(start)}"
                )
        with self._tx() as db:
            row = MarkRow(
                event_id=s.event_id,
                session_id=s.id,
                edge=edge.value,
                at=at,
                by=by[:120],
                source=source[:40],
                made_at=made,
            )
            db.add(row)
            db.flush()
            return _record(row)

    def history(
        self, event_id: str | None = None, session_id: str | None = None
    ) -> list[MarkRecord]:
        """Every mark, oldest first (the audit trail)."""
        query = select(MarkRow).order_by(MarkRow.id)
        if event_id is not None:
            query = query.where(MarkRow.event_id == event_id)
        if session_id is not None:
            query = query.where(MarkRow.session_id == session_id)
        with self._tx() as db:
            return [_record(r) for r in db.scalars(query)]

    def last_id(self) -> int:
        """The newest mark's id (0 when none): a cheap change counter for whoever plans from
        the marks (a mark from the CLI comes from another process)."""
        with self._tx() as db:
            return int(db.scalar(select(func.max(MarkRow.id))) or 0)

    def after(self, mark_id: int) -> list[MarkRecord]:
        """The marks stored after ``mark_id``, oldest first."""
        query = select(MarkRow).where(MarkRow.id > mark_id).order_by(MarkRow.id)
        with self._tx() as db:
            return [_record(r) for r in db.scalars(query)]

    def latest(self, event_id: str, session_id: str) -> dict[Edge, MarkRecord]:
        """The mark in force per edge of one session."""
        return {m.edge: m for m in self.history(event_id, session_id)}

    def in_force(self, event_id: str) -> list[Mark]:
        """The marks in force for an event's sessions, as the detector takes them."""
        latest: dict[tuple[str, Edge], MarkRecord] = {}
        for m in self.history(event_id):
            latest[(m.session_id, m.edge)] = m
        return [m.as_mark() for m in latest.values()]


class MarkWatch:
    """The marks stored since the last look, by whatever process stored them (``streamer
    mark`` writes the state DB directly): the service re-plans from them on its tick."""

    def __init__(self, store: Store) -> None:
        self.marks = MarkStore(store)
        self.seen = self.marks.last_id()

    def new(self) -> list[MarkRecord]:
        """Marks not seen yet, oldest first; one small query when there are none."""
        if self.marks.last_id() <= self.seen:
            return []
        fresh = self.marks.after(self.seen)
        if fresh:
            self.seen = fresh[-1].id
        return fresh


def known_starts(store: Store, event_id: str) -> dict[str, datetime]:
    """The real starts known per session, the strongest word winning as in the cut choice: a
    correction's start, else a start mark, else an accepted cut's start. Corrections are read
    from the audit log (one query; each correction is logged there with its window)."""
    accepted, corrected = AuditLog(store).known_starts(event_id)
    known = dict(accepted)
    for m in MarkStore(store).in_force(event_id):
        if m.edge is Edge.START:
            known[m.session_id] = m.at
    known.update(corrected)
    return known


def predicted_windows(store: Store, event_id: str) -> dict[str, Predicted]:
    """Every session's predicted window under the running delay of its broadcast and day."""
    views = store.sessions(event_id)
    if not views:
        return {}
    tz = store.program(event_id).event.tz
    return predict([s.scheduled for s in views], known_starts(store, event_id), tz)


def predicted_end(store: Store, event_id: str, session_id: str) -> datetime | None:
    """The session's end shifted by the running delay of its broadcast and day, or None when
    no start before it is known."""
    p = predicted_windows(store, event_id).get(session_id)
    return p.end if p is not None and p.since is not None else None


def cut_by(store: Store, event_id: str, session_id: str, scheduled_end: datetime) -> datetime:
    """When the recording must reach before a session may be cut: its predicted end on a late
    day, never before the scheduled end."""
    predicted = predicted_end(store, event_id, session_id)
    return scheduled_end if predicted is None else max(scheduled_end, predicted)


def broadcast_until(store: Store, event_id: str, broadcast_id: str) -> datetime:
    """How long a broadcast must be followed: its scheduled end, or the predicted end of its
    last session when the day runs later than that (the late limit comes on top)."""
    b = store.broadcast(event_id, broadcast_id)
    windows = predicted_windows(store, event_id)
    ends = [
        windows[s.id].end
        for s in store.sessions(event_id)
        if s.broadcast_id == broadcast_id and s.id in windows
    ]
    return max([b.end, *ends])


def revision(store: Store, event_id: str, session_id: str) -> int:
    """How many times a person changed the session's cut (marks, corrections, resets, accepts):
    a request made against an older revision lost a race and is refused."""
    marks = MarkStore(store).history(event_id, session_id)
    changes = [
        e for e in AuditLog(store).history(event_id, session_id) if e.action is not Action.REFUSED
    ]
    return len(marks) + len(changes)
