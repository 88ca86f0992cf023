"""The validated program of one event. Every datetime here is timezone-aware."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum, StrEnum
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,79}$"
"""Event, broadcast and session ids: the one definition (the checker and importers use it)."""
ID_RE = re.compile(ID_PATTERN)
LANG_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
"""A language code as written in a schedule: ``ko``, ``en-GB``, ``zh-Hant``, ``ko-KR``."""
LANG_RE = re.compile(LANG_PATTERN)
_LOOSE_LANG_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")

DAY_CHANGE = time(4, 0)
"""A conference day runs from 04:00 to 03:59 (pretalx and frab's default): a broadcast
starting before 04:00 belongs to the day before, unless its ``day`` says otherwise."""


def language_tag(text: str) -> str | None:
    """``text`` as a BCP 47 tag in its conventional case (``ko-KR``, ``zh-Hant``, ``es-419``),
    or None when it is not one (a language name such as ``Korean``)."""
    value = text.strip()
    if not _LOOSE_LANG_RE.match(value):
        return None
    first, *rest = re.split(r"[-_]", value)
    parts = [first.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())  # script
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            parts.append(part.upper())  # region
        else:
            parts.append(part.lower())
    return "-".join(parts)


Title = dict[str, str]
"""Language code → text, e.g. ``{"ko": "...", "en": "..."}``; never empty."""


def title_text(title: Title, lang: str | None = None) -> str:
    """The title in ``lang`` if present, else English, else the first one."""
    if lang and lang in title:
        return title[lang]
    return title.get("en") or next(iter(title.values()), "")


class Reading(Enum):
    """How the schedule checker reads a text field (other fields are read by their type).

    A field's type, with one of these in its ``Annotated`` metadata where plain text is not
    enough, is all the checker needs: a new field is added here and nowhere else.
    """

    ID = "id"
    REF = "broadcast reference"
    LANGUAGE = "language code"
    URL = "stream url"
    ZONE = "timezone"


Id = Annotated[str, Field(pattern=ID_PATTERN), Reading.ID]
Language = Annotated[str, Field(pattern=LANG_PATTERN), Reading.LANGUAGE]


def conference_date(moment: datetime, tz: ZoneInfo) -> date:
    """The conference day of ``moment`` by the 04:00 rule: its date in ``tz``, or the day
    before when it is earlier than 04:00 there."""
    local = moment.astimezone(tz).replace(tzinfo=None)
    return (local - timedelta(hours=DAY_CHANGE.hour, minutes=DAY_CHANGE.minute)).date()


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
    id: Id
    title: Title
    timezone: Annotated[str, Reading.ZONE]
    url: str | None = None
    description: Title | None = None
    cut_policy: CutPolicy = CutPolicy.SCHEDULE

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Broadcast(_Frozen):
    id: Id
    url: Annotated[str, Reading.URL] | None = None
    start: datetime
    end: datetime
    title: Title | None = None
    day: date | None = None
    """The conference day it belongs to; None: the date it starts, before 04:00 the day before."""

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("datetime must be timezone-aware")
        return value


class Session(_Frozen):
    id: Id
    broadcast: Annotated[str, Reading.REF]
    start: datetime
    end: datetime
    title: Title
    subtitle: str | None = None
    speakers: list[Speaker] = []
    track: str | None = None
    language: Language | None = None
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

    # the model is frozen, so indexes built once stay true (pydantic allows cached_property)
    @cached_property
    def _broadcasts_by_id(self) -> dict[str, Broadcast]:
        return {b.id: b for b in self.broadcasts}

    @cached_property
    def _sessions_by_id(self) -> dict[str, Session]:
        return {s.id: s for s in self.sessions}

    @cached_property
    def _sessions_by_broadcast(self) -> dict[str, list[Session]]:
        out: dict[str, list[Session]] = {}
        for s in sorted(self.sessions, key=lambda s: s.start.astimezone(UTC)):
            out.setdefault(s.broadcast, []).append(s)
        return out

    def broadcast(self, broadcast_id: str) -> Broadcast:
        return self._broadcasts_by_id[broadcast_id]

    def session(self, session_id: str) -> Session:
        return self._sessions_by_id[session_id]

    def sessions_of(self, broadcast_id: str) -> list[Session]:
        return list(self._sessions_by_broadcast.get(broadcast_id, []))

    def day_of(self, moment: datetime) -> date:
        """The calendar day of ``moment`` in the event's zone (see ``session_day`` for the
        conference day, which is what a program is grouped by)."""
        return moment.astimezone(self.event.tz).date()

    def broadcast_day(self, broadcast: Broadcast) -> date:
        """The conference day of a broadcast: its ``day``, else the date it starts in the
        event's zone, where a start before 04:00 counts to the day before."""
        if broadcast.day is not None:
            return broadcast.day
        return conference_date(broadcast.start, self.event.tz)

    def session_day(self, session: Session) -> date:
        """The conference day of a session: its broadcast's, so a talk at 01:00 stays on the
        evening's day (a session naming no known broadcast: its own start, as for a broadcast)."""
        b = self._broadcasts_by_id.get(session.broadcast)
        return conference_date(session.start, self.event.tz) if b is None else self.broadcast_day(b)

    def days(self) -> list[date]:
        """The conference days with sessions, in order."""
        return sorted({self.session_day(s) for s in self.sessions})
