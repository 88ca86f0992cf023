"""The state DB (SQLAlchemy): SQLite in the data dir by default, PostgreSQL by URL.

Schema versioning: ``meta.schema_version`` holds the version; :data:`MIGRATIONS` lists the
steps from each version to the next, applied in order at start-up (version 1 is the
``create_all`` baseline). Every state change goes through :meth:`Store.set_broadcast_state`
or :meth:`Store.set_session_state`, which check the state machine and log the transition.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from streamer.errors import NotFoundError, StateError
from streamer.pipeline import states
from streamer.schedule.model import Broadcast, Event, Program
from streamer.schedule.model import Session as ScheduledSession
from streamer.timeutil import iso, now, parse_iso

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}  # from-version → step


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


# ---- plain views handed out of the store (no DB session attached) -------------------------


@dataclass(frozen=True)
class BroadcastView:
    event_id: str
    id: str
    url: str | None
    start: datetime
    end: datetime
    state: str
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
    state: str
    reason: str | None
    attempts: int
    coverage: float | None
    vod_id: str | None
    vod_version: int | None
    published_at: datetime | None
    scheduled: ScheduledSession
    updated_at: datetime

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


def _bview(row: BroadcastRow) -> BroadcastView:
    return BroadcastView(
        row.event_id,
        row.id,
        row.url,
        row.start,
        row.end,
        row.state,
        row.reason,
        row.live_at,
        row.ended_at,
        row.removed,
    )


def _sview(row: SessionRow) -> SessionView:
    return SessionView(
        row.event_id,
        row.id,
        row.broadcast_id,
        row.start,
        row.end,
        row.state,
        row.reason,
        row.attempts,
        row.coverage,
        row.vod_id,
        row.vod_version,
        row.published_at,
        ScheduledSession.model_validate_json(row.data),
        row.updated_at,
    )


def _sview_or_none(row: SessionRow) -> SessionView | None:
    """A damaged row is logged and left out, so one bad row cannot stop the service."""
    try:
        return _sview(row)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        log.error("session %s.%s has unreadable data, ignored: %s", row.event_id, row.id, exc)
        return None


def _rview(row: RecordingRow) -> RecordingView:
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


class Store:
    """All reads and writes of pipeline state. Thread-safe: one short DB session per call."""

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            path = url.partition(":///")[2]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine: Engine = create_engine(url, **kwargs)
            if url.startswith("sqlite"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
            self._migrate()
        except SQLAlchemyError as exc:
            first = _hide_password(str(exc).splitlines()[0], url)
            raise StateError(f"state DB {_safe_url(url)} unusable: {first}") from None
        except ValueError:  # a malformed URL; its text may hold the password
            raise StateError(f"state DB URL {_safe_url(url)} is malformed") from None
        self.url = url

    # ---- plumbing ---------------------------------------------------------------------

    def _migrate(self) -> None:
        Base.metadata.create_all(self.engine)
        with self._tx() as db:
            row = db.get(MetaRow, "schema_version")
            version = int(row.value) if row else SCHEMA_VERSION
            if row is None:
                db.add(MetaRow(key="schema_version", value=str(SCHEMA_VERSION)))
        while version < SCHEMA_VERSION:
            with self.engine.begin() as conn:
                MIGRATIONS[version](conn)
                version += 1
                conn.execute(
                    text("UPDATE meta SET value = :v WHERE key = 'schema_version'"),
                    {"v": str(version)},
                )

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        db = self._sessions()
        try:
            yield db
            db.commit()
        except SQLAlchemyError as exc:
            db.rollback()
            raise StateError(f"state DB error: {exc}") from exc
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()

    def ping(self) -> None:
        """Raise StateError if the DB does not answer."""
        with self._tx() as db:
            db.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    def _log(
        self,
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

    # ---- schedule sync -----------------------------------------------------------------

    def sync_program(self, program: Program) -> Diff:
        """Upsert one event's broadcasts and sessions; report what changed.

        A session removed from the schedule is dropped unless it was published, in which
        case it is kept (and reported) so that its VOD is not orphaned.
        """
        diff = Diff()
        ev = program.event
        stamp = now()
        with self._tx() as db:
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
            known_b = {
                b.id: b
                for b in db.scalars(select(BroadcastRow).where(BroadcastRow.event_id == ev.id))
            }
            for b in program.broadcasts:
                brow = known_b.pop(b.id, None)
                if brow is None:
                    db.add(
                        BroadcastRow(
                            event_id=ev.id,
                            id=b.id,
                            url=b.url,
                            start=b.start,
                            end=b.end,
                            state="planned",
                            removed=False,
                            updated_at=stamp,
                        )
                    )
                else:
                    brow.url, brow.start, brow.end, brow.removed = b.url, b.start, b.end, False
            db.flush()
            known_s = {
                s.id: s for s in db.scalars(select(SessionRow).where(SessionRow.event_id == ev.id))
            }
            for s in program.sessions:
                data = s.model_dump_json()
                srow = known_s.pop(s.id, None)
                if srow is None:
                    state = "planned" if s.record else "skipped"
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
                    self._log(db, "session", ev.id, s.id, None, state, "added by schedule")
                    diff.added.append(s.id)
                elif srow.data != data:
                    srow.broadcast_id, srow.start, srow.end, srow.data = (
                        s.broadcast,
                        s.start,
                        s.end,
                        data,
                    )
                    srow.updated_at = stamp
                    if not s.record and srow.state in states.SESSION_PROCESSABLE:
                        self._set_session(db, srow, "skipped", "record: false in the schedule")
                    elif s.record and srow.state == "skipped":
                        self._set_session(db, srow, "planned", "record: true in the schedule")
                    self._log(db, "schedule", ev.id, s.id, None, None, "changed by schedule")
                    diff.changed.append(s.id)
            for sid, srow in known_s.items():
                if srow.state in ("published", "incomplete"):
                    diff.kept.append(sid)
                    continue
                self._log(db, "session", ev.id, sid, srow.state, None, "removed from schedule")
                db.delete(srow)
                diff.removed.append(sid)
            db.flush()
            for bid, brow in known_b.items():
                in_use = db.scalars(
                    select(SessionRow).where(
                        SessionRow.event_id == ev.id, SessionRow.broadcast_id == bid
                    )
                ).first()
                if in_use is None:
                    db.delete(brow)
                else:
                    brow.removed = True
        return diff

    def program(self, event_id: str) -> Program:
        """Rebuild an event's program from the DB, so that any process can run a stage."""
        with self._tx() as db:
            ev = db.get(EventRow, event_id)
            if ev is None:
                raise NotFoundError(f"unknown event {event_id!r}")
            srows = db.scalars(select(SessionRow).where(SessionRow.event_id == event_id))
            sessions = [ScheduledSession.model_validate_json(r.data) for r in srows]
            used = {s.broadcast for s in sessions}
            brows = db.scalars(select(BroadcastRow).where(BroadcastRow.event_id == event_id))
            # a broadcast gone from the schedule stays while a kept session still needs it
            broadcasts = [
                Broadcast(id=b.id, url=b.url, start=b.start, end=b.end)
                for b in brows
                if not b.removed or b.id in used
            ]
            event_model = Event(id=ev.id, title=json.loads(ev.title), timezone=ev.timezone)
            return Program(
                event=event_model,
                broadcasts=sorted(broadcasts, key=lambda b: b.start),
                sessions=sorted(sessions, key=lambda s: s.start),
                source=ev.source,
            )

    def events(self) -> list[dict[str, Any]]:
        with self._tx() as db:
            return [
                {"id": r.id, "title": json.loads(r.title), "timezone": r.timezone}
                for r in db.scalars(select(EventRow).order_by(EventRow.id))
            ]

    # ---- broadcasts --------------------------------------------------------------------

    def broadcasts(self, event_id: str | None = None) -> list[BroadcastView]:
        with self._tx() as db:
            q = select(BroadcastRow).order_by(BroadcastRow.start, BroadcastRow.id)
            if event_id:
                q = q.where(BroadcastRow.event_id == event_id)
            return [_bview(r) for r in db.scalars(q)]

    def broadcast(self, event_id: str, broadcast_id: str) -> BroadcastView:
        with self._tx() as db:
            row = db.get(BroadcastRow, (event_id, broadcast_id))
            if row is None:
                raise NotFoundError(f"unknown broadcast {event_id}.{broadcast_id}")
            return _bview(row)

    def set_broadcast_state(
        self, event_id: str, broadcast_id: str, target: str, reason: str | None = None
    ) -> BroadcastView:
        with self._tx() as db:
            row = db.get(BroadcastRow, (event_id, broadcast_id))
            if row is None:
                raise NotFoundError(f"unknown broadcast {event_id}.{broadcast_id}")
            src = row.state
            states.check_broadcast(src, target)
            row.state, row.reason, row.updated_at = target, reason, now()
            if target == "live":
                row.live_at = row.live_at or now()
            if target in ("ended", "failed", "missing"):
                row.ended_at = now()
            if src != target:
                self._log(db, "broadcast", event_id, broadcast_id, src, target, reason)
            return _bview(row)

    # ---- sessions ----------------------------------------------------------------------

    def sessions(self, event_id: str | None = None) -> list[SessionView]:
        with self._tx() as db:
            q = select(SessionRow).order_by(SessionRow.start, SessionRow.id)
            if event_id:
                q = q.where(SessionRow.event_id == event_id)
            return [v for v in map(_sview_or_none, db.scalars(q)) if v is not None]

    def session(self, event_id: str, session_id: str) -> SessionView:
        with self._tx() as db:
            row = db.get(SessionRow, (event_id, session_id))
            if row is None:
                raise NotFoundError(f"unknown session {event_id}.{session_id}")
            return _sview(row)

    def find_session(self, ref: str) -> SessionView:
        """A session by ``event.session`` or by a session id unique across events."""
        event_id, sid = self._resolve_ref(SessionRow, "session", ref)
        return self.session(event_id, sid)

    def find_broadcast(self, ref: str) -> BroadcastView:
        """A broadcast by ``event.broadcast`` or by an id unique across events."""
        event_id, bid = self._resolve_ref(BroadcastRow, "broadcast", ref)
        return self.broadcast(event_id, bid)

    def _resolve_ref(
        self, table: type[SessionRow] | type[BroadcastRow], kind: str, ref: str
    ) -> tuple[str, str]:
        if "." in ref:
            event_id, _, oid = ref.partition(".")
            return event_id, oid
        with self._tx() as db:
            query = select(table.event_id, table.id).where(table.id == ref)
            keys = [(str(e), str(i)) for e, i in db.execute(query)]
        if not keys:
            raise NotFoundError(f"unknown {kind} {ref!r}")
        if len(keys) > 1:
            choices = ", ".join(f"{e}.{i}" for e, i in keys)
            raise NotFoundError(f"{kind} id {ref!r} is ambiguous; use one of {choices}")
        return keys[0]

    def _set_session(self, db: Session, row: SessionRow, target: str, reason: str | None) -> None:
        src = row.state
        states.check_session(src, target)
        row.state, row.reason, row.updated_at = target, reason, now()
        if src != target:
            self._log(db, "session", row.event_id, row.id, src, target, reason)

    def set_session_state(
        self,
        event_id: str,
        session_id: str,
        target: str,
        reason: str | None = None,
        **fields: Any,
    ) -> SessionView:
        """Move a session (checked by the state machine) and update extra columns."""
        with self._tx() as db:
            row = db.get(SessionRow, (event_id, session_id))
            if row is None:
                raise NotFoundError(f"unknown session {event_id}.{session_id}")
            self._set_session(db, row, target, reason)
            for name, value in fields.items():
                if name not in {"attempts", "coverage", "vod_id", "vod_version", "published_at"}:
                    raise StateError(f"not a session field: {name}")
                setattr(row, name, value)
            return _sview(row)

    # ---- recordings and corrections ---------------------------------------------------

    def recording(self, event_id: str, broadcast_id: str) -> RecordingView | None:
        with self._tx() as db:
            row = db.get(RecordingRow, (event_id, broadcast_id))
            return _rview(row) if row else None

    def recordings(self) -> list[RecordingView]:
        with self._tx() as db:
            return [_rview(r) for r in db.scalars(select(RecordingRow))]

    def save_recording(self, event_id: str, broadcast_id: str, **fields: Any) -> None:
        with self._tx() as db:
            row = db.get(RecordingRow, (event_id, broadcast_id))
            if row is None:
                row = RecordingRow(
                    event_id=event_id,
                    broadcast_id=broadcast_id,
                    dir=str(fields.pop("dir", "")),
                    segments=0,
                    bytes=0,
                    gaps=0,
                    started_at=now(),
                    updated_at=now(),
                )
                db.add(row)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = now()

    def add_correction(
        self, event_id: str, session_id: str, start: datetime | None, end: datetime | None
    ) -> None:
        with self._tx() as db:
            db.add(
                CorrectionRow(
                    event_id=event_id,
                    session_id=session_id,
                    start=start,
                    end=end,
                    created_at=now(),
                )
            )
            what = f"cut {iso(start) if start else '-'} .. {iso(end) if end else '-'}"
            self._log(db, "session", event_id, session_id, None, None, what)

    def correction(
        self, event_id: str, session_id: str
    ) -> tuple[datetime | None, datetime | None] | None:
        with self._tx() as db:
            row = db.scalars(
                select(CorrectionRow)
                .where(CorrectionRow.event_id == event_id, CorrectionRow.session_id == session_id)
                .order_by(CorrectionRow.id.desc())
            ).first()
            return (row.start, row.end) if row else None

    def log(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._tx() as db:
            rows = db.scalars(select(LogRow).order_by(LogRow.id.desc()).limit(limit))
            return [
                {
                    "at": iso(r.at),
                    "kind": r.kind,
                    "id": f"{r.event_id}.{r.object_id}",
                    "from": r.from_state,
                    "to": r.to_state,
                    "reason": r.reason,
                }
                for r in rows
            ]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _hide_password(text: str, url: str) -> str:
    creds = url.partition("://")[2].rpartition("@")[0]
    password = creds.partition(":")[2]
    return text.replace(password, "***") if password else text


def _safe_url(url: str) -> str:
    """The DB URL without its password, for messages."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, creds = head.partition("://")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"
