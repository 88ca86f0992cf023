"""The audit log of cut changes: every correction, reset and accept, with who and from where.

Marks keep their own history (``marks`` table); this table holds the rest, beside the store's
tables on the same engine (created on first use, so the store's schema stays untouched).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Integer, String, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from streamer.errors import StateError
from streamer.pipeline.rows import UTCDateTime
from streamer.pipeline.store import Store
from streamer.timeutil import iso, now


class Action(StrEnum):
    CORRECTION = "correction"  # a cut given by a person (desk accept with a window, POST .../cut)
    RESET = "reset"  # back to the schedule
    ACCEPT = "accept"  # a held cut accepted as it was
    REFUSED = "refused"  # a request that lost a race or was not allowed: kept for the record


class _Base(DeclarativeBase):
    pass


class AuditRow(_Base):
    __tablename__ = "cut_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80), index=True)
    session_id: Mapped[str] = mapped_column(String(80), index=True)
    action: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(80))  # "desk 10.0.0.5", "api 127.0.0.1", "cli"
    detail: Mapped[str] = mapped_column(String(400))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class AuditEntry:
    event_id: str
    session_id: str
    action: Action
    start: datetime | None
    end: datetime | None
    by: str
    source: str
    detail: str
    made_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "start": iso(self.start) if self.start else None,
            "end": iso(self.end) if self.end else None,
            "by": self.by,
            "source": self.source,
            "detail": self.detail,
            "made_at": iso(self.made_at),
        }


_CREATE = threading.Lock()


class AuditLog:
    def __init__(self, store: Store) -> None:
        try:
            with _CREATE:
                _Base.metadata.create_all(store.engine)
        except SQLAlchemyError as exc:
            raise StateError(f"state DB error: {exc}") from exc
        self._store = store

    def _tx(self) -> AbstractContextManager[Session]:
        # the store's own transaction: one error translation (a lock held too long included)
        return self._store._tx()

    def add(
        self,
        event_id: str,
        session_id: str,
        action: Action,
        *,
        by: str,
        source: str,
        start: datetime | None = None,
        end: datetime | None = None,
        detail: str = "",
    ) -> AuditEntry:
        with self._tx() as db:
            row = AuditRow(
                event_id=event_id,
                session_id=session_id,
                action=action.value,
                start=start,
                end=end,
                by=(by or "admin")[:120],
                source=source[:80],
                detail=detail[:400],
                made_at=now(),
            )
            db.add(row)
            db.flush()
            return _entry(row)

    def history(self, event_id: str, session_id: str | None = None) -> list[AuditEntry]:
        """Oldest first."""
        query = select(AuditRow).where(AuditRow.event_id == event_id).order_by(AuditRow.id)
        if session_id is not None:
            query = query.where(AuditRow.session_id == session_id)
        with self._tx() as db:
            return [_entry(r) for r in db.scalars(query)]

    def known_starts(self, event_id: str) -> tuple[dict[str, datetime], dict[str, datetime]]:
        """(accepted, corrected): per session, the start of its latest accepted held cut, and
        the start of its correction in force (the latest correction or reset; none when that
        one left the start to the schedule). One query for the whole event."""
        accepted: dict[str, datetime] = {}
        corrected: dict[str, datetime] = {}
        for e in self.history(event_id):
            if e.action is Action.ACCEPT and e.start is not None:
                accepted[e.session_id] = e.start
            elif e.action in (Action.CORRECTION, Action.RESET):
                if e.start is None:
                    corrected.pop(e.session_id, None)
                else:
                    corrected[e.session_id] = e.start
        return accepted, corrected


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        row.event_id,
        row.session_id,
        Action(row.action),
        row.start,
        row.end,
        row.by,
        row.source,
        row.detail,
        row.made_at,
    )
