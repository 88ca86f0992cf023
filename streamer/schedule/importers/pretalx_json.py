"""pretalx / frab schedule.json (the c3voc schema): ``schedule.conference.days[].rooms{room:
[talk, ...]}``. A talk's absolute ``date`` is the truth; its day index names the broadcast."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from streamer.errors import ScheduleError
from streamer.schedule.importers.base import Found, Lines
from streamer.schedule.importers.talks import RawTalk, finish
from streamer.schedule.values import kind

NAME = "pretalx-json"
_DAYS = re.compile(r'"days"\s*:')


def detect(text: str) -> bool:
    """A JSON object with a ``"days"`` key (the c3voc schema's conference days)."""
    return text.lstrip()[:1] == "{" and bool(_DAYS.search(text))


def load_json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise ScheduleError(f"{name}: invalid JSON: nested too deeply") from None


def conference_of(data: Any, name: str) -> Mapping[str, Any]:
    schedule = data.get("schedule") if isinstance(data, Mapping) else None
    conference = schedule.get("conference") if isinstance(schedule, Mapping) else None
    if not isinstance(conference, Mapping):
        raise ScheduleError(
            f"{name}:1: not a pretalx/frab schedule (no schedule.conference object)"
        )
    return conference


def facts(found: Found, conference: Mapping[str, Any]) -> None:
    for attr, key in (("title", "title"), ("acronym", "acronym"), ("zone", "time_zone_name")):
        value = conference.get(key)
        setattr(found, attr, value.strip() if isinstance(value, str) and value.strip() else None)


def read(text: str, name: str, tz: ZoneInfo | None, strict: bool) -> Found:
    data = load_json(text, name)
    conference = conference_of(data, name)
    found = Found(name, strict=strict)
    facts(found, conference)
    lines = Lines(text)
    days = conference.get("days")
    if not isinstance(days, list):
        found.error(lines.key("days"), f"conference days must be a list of days, got {kind(days)}")
        return found
    raws: list[RawTalk] = []
    for index, day in enumerate(days, start=1):
        _day(found, lines, day, index, raws)
    if not found.errors:
        finish(found, raws, tz)
    return found


def _day(found: Found, lines: Lines, day: Any, index: int, raws: list[RawTalk]) -> None:
    if not isinstance(day, Mapping):
        line = lines.find(json.dumps(day, ensure_ascii=False)) or lines.key("days")
        found.error(
            line, f"day {index} must be an object with index, date and rooms, got {kind(day)}"
        )
        return
    line = lines.find('"rooms"') or lines.key("days")
    number = day.get("index", index)
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        found.error(
            line, f"day {index}: index must be a day number (1, 2, ...), got {kind(number)}"
        )
        return
    rooms = day.get("rooms") or {}
    if not isinstance(rooms, Mapping):
        found.error(
            line,
            f"day {number}: rooms must map each room name to its talks, got {kind(rooms)}",
        )
        return
    day_date = day.get("date") if isinstance(day.get("date"), str) else None
    day_start = day.get("day_start") if isinstance(day.get("day_start"), str) else None
    for room, talks in rooms.items():
        if talks is None:
            continue
        if not isinstance(talks, list):
            found.error(
                lines.find(json.dumps(room, ensure_ascii=False)) or line,
                f"day {number}, room {room!r}: talks must be a list, got {kind(talks)}",
            )
            continue
        for talk in talks:
            if not isinstance(talk, Mapping):
                at = lines.find(json.dumps(talk, ensure_ascii=False)) or line
                found.error(
                    at, f"day {number}, room {room!r}: a talk must be an object, got {kind(talk)}"
                )
                continue
            at = talk_line(lines, talk)
            raws.append(RawTalk(talk, at, str(room), number or index, day_date, day_start))


def talk_line(lines: Lines, talk: Mapping[str, Any]) -> int:
    """The line of the talk's guid (or id, slug): JSON keeps no lines, but talks come in order."""
    tokens = []
    for key in ("guid", "id", "slug"):
        value = talk.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            tokens.append(f'"{key}": {json.dumps(value, ensure_ascii=False)}')
            tokens.append(f'"{key}":{json.dumps(value, ensure_ascii=False)}')
    return lines.find(*tokens)
