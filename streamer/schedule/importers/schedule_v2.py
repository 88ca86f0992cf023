"""Schedule JSON version 2 (the "hub" export): one flat ``schedule.events`` list (or
``schedule.conference.events``) instead of ``conference.days[].rooms``; ``conference.rooms``
lists the rooms, and an event's ``room`` is a room's name or guid. Talk fields are as in the
c3voc schema. Conference days are counted by date, a day running from 04:00 to 03:59."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from streamer.schedule.importers.base import Found, Lines
from streamer.schedule.importers.pretalx_json import conference_of, facts, load_json, talk_line
from streamer.schedule.importers.talks import RawTalk, finish
from streamer.schedule.values import kind

NAME = "schedule-v2-json"
_EVENTS = re.compile(r'"events"\s*:\s*\[')


def detect(text: str) -> bool:
    """A JSON object with an ``"events": [`` list."""
    return text.lstrip()[:1] == "{" and bool(_EVENTS.search(text))


def read(text: str, name: str, tz: ZoneInfo | None, strict: bool) -> Found:
    data = load_json(text, name)
    conference = conference_of(data, name)
    found = Found(name, strict=strict)
    facts(found, conference)
    lines = Lines(text)
    events = data["schedule"].get("events", conference.get("events"))
    if not isinstance(events, list):
        found.error(lines.key("events"), f"events must be a list of talks, got {kind(events)}")
        return found
    rooms = _room_names(conference.get("rooms"))
    raws: list[RawTalk] = []
    for talk in events:
        if not isinstance(talk, Mapping):
            at = lines.find(json.dumps(talk, ensure_ascii=False)) or lines.key("events")
            found.error(at, f"an event must be an object, got {kind(talk)}")
            continue
        room = talk.get("room")
        name_of_room = rooms.get(str(room), str(room)) if room is not None else ""
        line = talk_line(lines, talk)
        if not name_of_room:
            found.error(line, f"talk {talk.get('guid') or talk.get('title')!r}: no room")
            continue
        raws.append(RawTalk({**talk, "room": name_of_room}, line, name_of_room))
    if not found.errors:
        finish(found, raws, tz)
    return found


def _room_names(rooms: Any) -> dict[str, str]:
    """guid → name of the conference's rooms (a list of {name, guid})."""
    out: dict[str, str] = {}
    for room in rooms if isinstance(rooms, list) else []:
        if isinstance(room, Mapping) and isinstance(room.get("name"), str):
            for key in ("guid", "id", "slug"):
                if room.get(key) is not None:
                    out[str(room[key])] = room["name"]
    return out
