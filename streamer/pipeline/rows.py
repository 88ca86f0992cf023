"""The state DB's tables, and the plain views the store hands out (no DB session attached).

States are stored as their text and handed out as :mod:`~streamer.pipeline.states` enums.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKeyConstraint, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from streamer.pipeline import states
from streamer.pipeline.states import BroadcastState, SessionState
from streamer.schedule.model import Session as ScheduledSession
from streamer.timeutil import iso, now, parse_iso

log = logging.getLogger(__name__)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as ISO 8601 UTC text (portable across SQLite and PostgreSQL)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused by the state DB")
        return iso(value.astimezone(UTC))

    def process_result_value(self, value: str | None, dialect: Any) -> datetime | None:
        return parse_iso(value) if value else None


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    title: Mapped[str] = mapped_column(Text)  # JSON {lang: text}
    timezone: Mapped[str] = mapped_column(String(64))
    cut_policy: Mapped[str] = mapped_column(String(16), default="schedule")
    source: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BroadcastRow(Base):
    __tablename__ = "broadcasts"
    event_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    url: Mapped[str | None] = mapped_column(Text)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default="planned")
    reason: Mapped[str | None] = mapped_column(Text)
    live_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # the schedule's conference day (ISO date) when it names one; else derived from the start
    day: Mapped[str | None] = mapped_column(String(10), nullable=True)


class SessionRow(Base):
    __tablename__ = "sessions"
    event_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    broadcast_id: Mapped[str] = mapped_column(String(80))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[str] = mapped_column(Text)  # the scheduled Session as JSON
    state: Mapped[str] = mapped_column(String(20), default="planned")
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    coverage: Mapped[float | None] = mapped_column(Float)
    vod_id: Mapped[str | None] = mapped_column(String(200))
    vod_version: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # retry policy's verdict
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        ForeignKeyConstraint(
            ["event_id", "broadcast_id"], ["broadcasts.event_id", "broadcasts.id"]
        ),
    )


class RecordingRow(Base):
    __tablename__ = "recordings"
    event_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    broadcast_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    dir: Mapped[str] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(Integer, default=0)
    gaps: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CorrectionRow(Base):
    __tablename__ = "corrections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80), index=True)
    session_id: Mapped[str] = mapped_column(String(80), index=True)
    start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LogRow(Base):
    __tablename__ = "event_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(20))  # broadcast | session | schedule
    event_id: Mapped[str] = mapped_column(String(80))
    object_id: Mapped[str] = mapped_column(String(80))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)


class OutboxRow(Base):
    """Webhook events written by the stages, delivered by the service that runs the notifier."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # JSON


# ---- plain views handed out of the store (no DB session attached) -------------------------


@dataclass(frozen=True)
class BroadcastView:
    event_id: str
    id: str
    url: str | None
    start: datetime
    end: datetime
    state: BroadcastState
    reason: str | None
    live_at: datetime | None
    ended_at: datetime | None
    removed: bool


@dataclass(frozen=True)
class SessionView:
    event_id: str
    id: str
    broadcast_id: str
    start: datetime
    end: datetime
    state: SessionState
    reason: str | None
    attempts: int
    coverage: float | None
    vod_id: str | None
    vod_version: int | None
    published_at: datetime | None
    scheduled: ScheduledSession
    updated_at: datetime
    next_try_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.event_id}.{self.id}"


@dataclass(frozen=True)
class RecordingView:
    event_id: str
    broadcast_id: str
    dir: str
    state: str | None
    reason: str | None
    segments: int
    bytes: int
    gaps: int
    started_at: datetime | None
    updated_at: datetime


@dataclass
class Diff:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # removed from the schedule but published

    def to_json(self) -> dict[str, list[str]]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "kept": self.kept,
        }


def bview(row: BroadcastRow) -> BroadcastView:
    return BroadcastView(
        row.event_id,
        row.id,
        row.url,
        row.start,
        row.end,
        BroadcastState(row.state),
        row.reason,
        row.live_at,
        row.ended_at,
        row.removed,
    )


def sview(row: SessionRow) -> SessionView:
    return SessionView(
        row.event_id,
        row.id,
        row.broadcast_id,
        row.start,
        row.end,
        SessionState(row.state),
        row.reason,
        row.attempts,
        row.coverage,
        row.vod_id,
        row.vod_version,
        row.published_at,
        ScheduledSession.model_validate_json(row.data),
        row.updated_at,
        row.next_try_at,
    )


def sview_or_none(row: SessionRow) -> SessionView | None:
    """A damaged row is logged and left out, so one bad row cannot stop the service."""
    try:
        return sview(row)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        log.error("session %s.%s has unreadable data, ignored: %s", row.event_id, row.id, exc)
        return None


def rview(row: RecordingRow) -> RecordingView:
    return RecordingView(
        row.event_id,
        row.broadcast_id,
        row.dir,
        row.state,
        row.reason,
        row.segments,
        row.bytes,
        row.gaps,
        row.started_at,
        row.updated_at,
    )


# ---- writes shared by the store and the schedule sync --------------------------------------


def log_transition(
    db: Session,
    kind: str,
    event_id: str,
    object_id: str,
    src: str | None,
    dst: str | None,
    reason: str | None,
) -> None:
    db.add(
        LogRow(
            at=now(),
            kind=kind,
            event_id=event_id,
            object_id=object_id,
            from_state=src,
            to_state=dst,
            reason=reason,
        )
    )


def move_session(db: Session, row: SessionRow, target: SessionState, reason: str | None) -> None:
    """Move one session row (checked by the state machine) and log the transition."""
    src = row.state
    tgt = states.check_session(src, target)  # the enum, also when given its text
    row.state, row.reason, row.updated_at = tgt.value, reason, now()
    if src != tgt:
        log_transition(db, "session", row.event_id, row.id, src, tgt.value, reason)
