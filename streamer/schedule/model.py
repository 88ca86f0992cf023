"""The validated program of one event. Every datetime here is timezone-aware."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,79}$"

Title = dict[str, str]
"""Language code → text, e.g. ``{"ko": "...", "en": "..."}``; never empty."""


def title_text(title: Title, lang: str | None = None) -> str:
    """The title in ``lang`` if present, else English, else the first one."""
    if lang and lang in title:
        return title[lang]
    return title.get("en") or next(iter(title.values()), "")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Speaker(_Frozen):
    name: str
    affiliation: str | None = None


class CutPolicy(StrEnum):
    """How a session's VOD is cut and published (issue 13)."""

    SCHEDULE = "schedule"  # at the scheduled times (corrections and marks apply)
    AUTO = "auto"  # at the suggested cut when confident enough, else scheduled + needs_review
    REVIEW = "review"  # held until the media team accepts a cut


class Event(_Frozen):
    id: str = Field(pattern=ID_PATTERN)
    title: Title
    timezone: str
    url: str | None = None
    description: Title | None = None
    cut_policy: CutPolicy = CutPolicy.SCHEDULE

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Broadcast(_Frozen):
    id: str = Field(pattern=ID_PATTERN)
    url: str | None = None
    start: datetime
    end: datetime
    title: Title | None = None

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("datetime must be timezone-aware")
        return value


class Session(_Frozen):
    id: str = Field(pattern=ID_PATTERN)
    broadcast: str
    start: datetime
    end: datetime
    title: Title
    speakers: list[Speaker] = []
    track: str | None = None
    language: str | None = None
    record: bool = True
    description: str | None = None

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("datetime must be timezone-aware")
        return value

    @property
    def duration(self) -> timedelta:
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)


class Program(_Frozen):
    """One event: its broadcasts and sessions. ``source`` is the file it came from."""

    event: Event
    broadcasts: list[Broadcast]
    sessions: list[Session]
    source: str | None = Field(default=None, exclude=True)

    def broadcast(self, broadcast_id: str) -> Broadcast:
        for b in self.broadcasts:
            if b.id == broadcast_id:
                return b
        raise KeyError(broadcast_id)

    def session(self, session_id: str) -> Session:
        for s in self.sessions:
            if s.id == session_id:
                return s
        raise KeyError(session_id)

    def sessions_of(self, broadcast_id: str) -> list[Session]:
        return sorted(
            (s for s in self.sessions if s.broadcast == broadcast_id), key=lambda s: s.start
        )

    def day_of(self, moment: datetime) -> date:
        """The calendar day of ``moment`` in the event's zone."""
        return moment.astimezone(self.event.tz).date()

    def days(self) -> list[date]:
        return sorted({self.day_of(s.start) for s in self.sessions})
