"""The state DB (SQLAlchemy): SQLite in the data dir by default, PostgreSQL by URL.

Schema versioning: ``meta.schema_version`` holds the version; :data:`MIGRATIONS` lists the
steps from each version to the next, applied in order at start-up (version 1 is the
``create_all`` baseline). Every state change goes through :meth:`Store.set_broadcast_state`
or :meth:`Store.set_session_state`, which check the state machine and log the transition.
The tables are in :mod:`~streamer.pipeline.rows`, the schedule sync in
:mod:`~streamer.pipeline.sync`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, delete, event, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from streamer.errors import NotFoundError, StateError
from streamer.pipeline import states, sync
from streamer.pipeline.rows import (
    Base,
    BroadcastRow,
    BroadcastView,
    CorrectionRow,
    Diff,
    EventRow,
    LogRow,
    MetaRow,
    OutboxRow,
    RecordingRow,
    RecordingView,
    SessionRow,
    SessionView,
    bview,
    log_transition,
    move_session,
    rview,
    sview,
    sview_or_none,
)
from streamer.pipeline.states import BROADCAST_OVER, BroadcastState, SessionState
from streamer.schedule.model import Program
from streamer.timeutil import iso, now

__all__ = ["BroadcastView", "Diff", "RecordingView", "SessionView", "Store"]

log = logging.getLogger(__name__)

SESSION_FIELDS = frozenset(
    {"attempts", "coverage", "vod_id", "vod_version", "published_at", "next_try_at"}
)


def _add_next_try_at(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE sessions ADD COLUMN next_try_at VARCHAR(40)"))


def _add_cut_policy(conn: Connection) -> None:
    # create_all makes new tables with the column; only an older events table lacks it
    if "cut_policy" not in {c["name"] for c in inspect(conn).get_columns("events")}:
        conn.execute(
            text("ALTER TABLE events ADD COLUMN cut_policy VARCHAR(16) DEFAULT 'schedule'")
        )


def _add_broadcast_day(conn: Connection) -> None:
    if "day" not in {c["name"] for c in inspect(conn).get_columns("broadcasts")}:
        conn.execute(text("ALTER TABLE broadcasts ADD COLUMN day VARCHAR(10)"))


SCHEMA_VERSION = 4
MIGRATIONS: dict[int, Callable[[Connection], None]] = {  # from-version → step
    1: _add_next_try_at,
    2: _add_cut_policy,
    3: _add_broadcast_day,
}


# How long a write waits for another process's lock on the SQLite file (a backup, an operator's
# sqlite3 shell) before it fails: twice the 30 s such a lock may last (issue 15).
BUSY_TIMEOUT_S = 60.0


class Store:
    """All reads and writes of pipeline state. Thread-safe: one short DB session per call."""

    def __init__(self, url: str, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        kwargs: dict[str, Any] = {}
        self.busy_timeout_s = busy_timeout_s
        if url.startswith("sqlite"):
            # the driver's timeout is SQLite's busy timeout: a locked file is waited for
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_s}
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
            if "database is locked" in str(exc):
                raise StateError(
                    f"state DB locked by another process for over {self.busy_timeout_s:g}s"
                ) from exc
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

    # ---- schedule sync -----------------------------------------------------------------

    def sync_program(self, program: Program) -> Diff:
        """Upsert one event's broadcasts and sessions; report what changed (see ``sync``)."""
        with self._tx() as db:
            return sync.sync_program(db, program)

    def program(self, event_id: str) -> Program:
        """Rebuild an event's program from the DB, so that any process can run a stage."""
        with self._tx() as db:
            return sync.program_of(db, event_id)

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
            return [bview(r) for r in db.scalars(q)]

    def broadcast(self, event_id: str, broadcast_id: str) -> BroadcastView:
        with self._tx() as db:
            row = db.get(BroadcastRow, (event_id, broadcast_id))
            if row is None:
                raise NotFoundError(f"unknown broadcast {event_id}.{broadcast_id}")
            return bview(row)

    def set_broadcast_state(
        self,
        event_id: str,
        broadcast_id: str,
        target: BroadcastState,
        reason: str | None = None,
    ) -> BroadcastView:
        with self._tx() as db:
            row = db.get(BroadcastRow, (event_id, broadcast_id))
            if row is None:
                raise NotFoundError(f"unknown broadcast {event_id}.{broadcast_id}")
            src = row.state
            tgt = states.check_broadcast(src, target)  # the enum, also when given its text
            row.state, row.reason, row.updated_at = tgt.value, reason, now()
            if tgt == BroadcastState.LIVE:
                row.live_at = row.live_at or now()
            if tgt in BROADCAST_OVER:
                row.ended_at = now()
            if src != tgt:
                log_transition(db, "broadcast", event_id, broadcast_id, src, tgt.value, reason)
            return bview(row)

    # ---- sessions ----------------------------------------------------------------------

    def sessions(self, event_id: str | None = None) -> list[SessionView]:
        with self._tx() as db:
            q = select(SessionRow).order_by(SessionRow.start, SessionRow.id)
            if event_id:
                q = q.where(SessionRow.event_id == event_id)
            return [v for v in map(sview_or_none, db.scalars(q)) if v is not None]

    def session(self, event_id: str, session_id: str) -> SessionView:
        with self._tx() as db:
            row = db.get(SessionRow, (event_id, session_id))
            if row is None:
                raise NotFoundError(f"unknown session {event_id}.{session_id}")
            return sview(row)

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

    def set_session_state(
        self,
        event_id: str,
        session_id: str,
        target: SessionState,
        reason: str | None = None,
        **fields: Any,
    ) -> SessionView:
        """Move a session (checked by the state machine) and update extra columns."""
        with self._tx() as db:
            row = db.get(SessionRow, (event_id, session_id))
            if row is None:
                raise NotFoundError(f"unknown session {event_id}.{session_id}")
            move_session(db, row, target, reason)
            for name, value in fields.items():
                if name not in SESSION_FIELDS:
                    raise StateError(f"not a session field: {name}")
                setattr(row, name, value)
            return sview(row)

    # ---- recordings and corrections ---------------------------------------------------

    def recording(self, event_id: str, broadcast_id: str) -> RecordingView | None:
        with self._tx() as db:
            row = db.get(RecordingRow, (event_id, broadcast_id))
            return rview(row) if row else None

    def recordings(self) -> list[RecordingView]:
        with self._tx() as db:
            return [rview(r) for r in db.scalars(select(RecordingRow))]

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
            log_transition(db, "session", event_id, session_id, None, None, what)

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

    def corrections(self, event_id: str, session_id: str) -> list[dict[str, Any]]:
        """Every correction of a session, oldest first (the desk's audit trail)."""
        with self._tx() as db:
            rows = db.scalars(
                select(CorrectionRow)
                .where(CorrectionRow.event_id == event_id, CorrectionRow.session_id == session_id)
                .order_by(CorrectionRow.id)
            )
            return [
                {
                    "start": iso(r.start) if r.start else None,
                    "end": iso(r.end) if r.end else None,
                    "made_at": iso(r.created_at),
                }
                for r in rows
            ]

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

    # ---- webhook outbox ---------------------------------------------------------------

    def post(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue a webhook event; the service that runs the notifier delivers it."""
        with self._tx() as db:
            db.add(OutboxRow(at=now(), kind=kind, payload=json.dumps(payload, ensure_ascii=False)))

    def take_posts(self, limit: int = 100) -> list[tuple[str, dict[str, Any]]]:
        """The oldest queued events, removed from the outbox: ``[(kind, payload), ...]``."""
        with self._tx() as db:
            rows = list(db.scalars(select(OutboxRow).order_by(OutboxRow.id).limit(limit)))
            if rows:
                db.execute(delete(OutboxRow).where(OutboxRow.id.in_([r.id for r in rows])))
            return [(r.kind, json.loads(r.payload)) for r in rows]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
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
