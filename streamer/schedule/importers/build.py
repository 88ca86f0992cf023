"""Talks → the schedule's data, checked like a YAML file: one broadcast per room and conference
day. The data is built as LineMaps holding each talk's source line, so a problem found by the
checker (an overlap, say) names the line of the talk in the source file."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from streamer.errors import ScheduleError
from streamer.schedule.importers.base import Found, Talk
from streamer.schedule.load import check_data
from streamer.schedule.model import ID_RE, Program, conference_date
from streamer.schedule.problems import Problem, Report
from streamer.schedule.urls import normalise_url, video_id
from streamer.schedule.values import UNDETERMINED
from streamer.schedule.yamlread import LineMap


def slugify(text: str, limit: int = 80) -> str:
    """Lower-case ASCII id matching the schedule's id pattern ('' when nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-_")
    return slug[:limit].rstrip("-_")


def _unique(base: str, taken: set[str], fallback: str) -> str:
    candidate = base if base and ID_RE.fullmatch(base) else fallback
    out, n = candidate, 2
    while out in taken:
        suffix = f"-{n}"
        out = candidate[: 80 - len(suffix)] + suffix
        n += 1
    taken.add(out)
    return out


def _lined(line: int, values: dict[str, Any]) -> LineMap:
    out = LineMap(line)
    out.update(values)
    out.key_lines.update(dict.fromkeys(values, line))
    return out


def event_id(found: Found, given: str | None, stem: str) -> str:
    if given is not None:
        if not ID_RE.fullmatch(given):
            hint = slugify(given)
            example = f"; e.g. --event-id {hint}" if hint else ""
            raise ScheduleError(
                f"--event-id {given!r} is not a valid id: use 1-80 lower-case letters, digits,"
                f" '-' or '_', starting with a letter or digit{example}"
            )
        return given
    eid = slugify(found.acronym or "") or slugify(found.title or "") or slugify(stem)
    if not ID_RE.fullmatch(eid):
        raise ScheduleError(
            f"{found.source}: the source's acronym, title and file name give no usable event id;"
            " pass --event-id"
        )
    return eid


def _number_days(found: Found, tz: Any) -> None:
    """Talks without a day index (CSV, schedule v2) are numbered by conference date."""
    dates = sorted({conference_date(t.start, tz) for t in found.talks if t.day == 0})
    numbers = {d: i for i, d in enumerate(dates, start=1)}
    for talk in found.talks:
        if talk.day == 0:
            talk.day_date = conference_date(talk.start, tz)
            talk.day = numbers[talk.day_date]


def build(found: Found, room_urls: dict[str, str], eid: str, warnings: list[Problem]) -> Program:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(found.zone or "UTC")
    _number_days(found, tz)
    rooms = {t.room for t in found.talks}
    for room in room_urls:
        if room not in rooms:
            warnings.append(
                Problem(
                    found.source, 0, f"--room-url names room {room!r}, which has no talks", True
                )
            )
    room_ids = _room_ids(found.talks)
    groups: dict[tuple[str, int], list[Talk]] = {}
    for talk in found.talks:
        groups.setdefault((talk.room, talk.day), []).append(talk)
    broadcasts: list[LineMap] = []
    broadcast_of: dict[tuple[str, int], str] = {}
    days_of_room: dict[str, int] = {}
    urls: dict[str, str | None] = {}  # a room's url, once found (or warned about)
    for (room, day), talks in sorted(groups.items(), key=lambda kv: (kv[0][1], room_ids[kv[0][0]])):
        bid = f"{room_ids[room]}-d{day}"
        broadcast_of[(room, day)] = bid
        days_of_room[room] = days_of_room.get(room, 0) + 1
        first = min(talks, key=lambda t: t.start)
        day_date: date | None = next((t.day_date for t in talks if t.day_date), None)
        values: dict[str, Any] = {
            "id": bid,
            "title": {UNDETERMINED: f"{room}, day {day}"},
            "day": day_date or conference_date(first.start, tz),
            "url": urls[room]
            if room in urls
            else _room_url(found, room, room_urls, warnings, urls),
            "start": first.start,
            "end": max(t.end for t in talks),
        }
        broadcasts.append(_lined(first.line, values))
    _warn_reused_video(found, room_urls, days_of_room, warnings)
    data = LineMap(0)
    data.update(
        {
            "event": {"id": eid, "title": {UNDETERMINED: found.title or eid}, "timezone": tz.key},
            "broadcasts": broadcasts,
            "sessions": _sessions(found, broadcast_of, warnings),
        }
    )
    report = Report()
    program = check_data(data, found.source, report)
    # the checker's warnings too (a url missing is already said per room)
    warnings.extend(p for p in report.problems if p.warning and p.group != "no-url")
    if program is None:
        raise ScheduleError(f"{found.source}: the imported schedule is invalid", report.errors)
    return program


def _room_ids(talks: list[Talk]) -> dict[str, str]:
    """Rooms in order of first appearance; slugs unique ("세미나실 2" leaves only "2")."""
    room_ids: dict[str, str] = {}
    taken: set[str] = set()
    for talk in sorted(talks, key=lambda t: (t.day, t.start)):
        if talk.room not in room_ids:
            slug = slugify(talk.room, 60)
            if not re.search(r"[a-z]", slug):
                slug = f"room-{slug}" if slug else ""
            room_ids[talk.room] = _unique(slug, taken, f"room{len(room_ids) + 1}")
    return room_ids


def _room_url(
    found: Found,
    room: str,
    room_urls: dict[str, str],
    warnings: list[Problem],
    known: dict[str, str | None],
) -> str | None:
    # a CSV url column names the room's stream; any row of the room may carry it
    url = room_urls.get(room) or next(
        (t.url for t in found.talks if t.room == room and t.url), None
    )
    known[room] = None
    if not url:
        warnings.append(
            Problem(
                found.source,
                0,
                f"room {room!r} has no broadcast url (pass --room-url '{room}=URL')",
                True,
                "room-url",
                "rooms without a broadcast url",
            )
        )
        return None
    try:
        known[room] = normalise_url(url)
        return known[room]
    except ValueError as exc:
        raise ScheduleError(f"{found.source}: room {room!r}: invalid url: {exc}") from None


def _warn_reused_video(
    found: Found, room_urls: dict[str, str], days: dict[str, int], warnings: list[Problem]
) -> None:
    for room, url in room_urls.items():
        if days.get(room, 0) > 1 and video_id(url) is not None:
            warnings.append(
                Problem(
                    found.source,
                    0,
                    f"--room-url for {room!r} is one video ({url}) but the room has"
                    f" {days[room]} days: every day's broadcast would record that one stream;"
                    " give each day its own url in the YAML, or use the channel's /live page",
                    True,
                )
            )


def _sessions(
    found: Found, broadcast_of: dict[tuple[str, int], str], warnings: list[Problem]
) -> list[LineMap]:
    sessions: list[LineMap] = []
    taken: set[str] = set()
    for talk in sorted(found.talks, key=lambda t: (t.start, t.room)):
        key = slugify(talk.key)
        sid = _unique(key, taken, f"talk-{len(taken) + 1}")
        if talk.key and sid != key:
            warnings.append(
                Problem(
                    found.source,
                    talk.line,
                    f"{talk.label}: id {talk.key!r} is taken or invalid; used {sid!r}",
                    True,
                    "id",
                    "talks whose id was taken or invalid",
                )
            )
        values: dict[str, Any] = {
            "id": sid,
            "broadcast": broadcast_of[(talk.room, talk.day)],
            "start": talk.start,
            "end": talk.end,
            "title": talk.title,
            "speakers": talk.speakers,
            "record": talk.record,
        }
        for key in ("subtitle", "track", "language", "description"):
            if getattr(talk, key):
                values[key] = getattr(talk, key)
        sessions.append(_lined(talk.line, values))
    return sessions
