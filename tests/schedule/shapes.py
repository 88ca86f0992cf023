"""Self-made exports in the real shapes (c3voc/pretalx/frab JSON, frab/pentabarf XML, schedule
v2 JSON), written by code so each test says what it varies. Nothing here is copied from a
third-party file; the field names are those the formats define."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape


@dataclass
class T:
    """One talk: ``date`` is ISO 8601 as the export writes it (or None: no <date>)."""

    slug: str
    date: str | None
    duration: str = "00:30"
    room: str = "Saal 1"
    start: str | None = None  # HH:MM; from date when None
    title: Any = "A talk"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hhmm(self) -> str:
        return self.start or (self.date or "T00:00")[11:16]


def talk_json(t: T, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "guid": f"7f3c2a10-0000-4000-8000-{n:012d}",
        "id": n,
        "start": t.hhmm,
        "duration": t.duration,
        "room": t.room,
        "slug": t.slug,
        "title": t.title,
        "subtitle": "",
        "track": "Talks",
        "type": "lecture",
        "language": "en",
        "abstract": "",
        "description": "",
        "do_not_record": False,
        "persons": [{"id": 1000 + n, "public_name": f"Speaker {n}"}],
        "links": [],
    }
    if t.date is not None:
        out["date"] = t.date
    out.update(t.extra)
    return out


def c3voc_json(
    days: list[tuple[str, list[T]]],
    *,
    zone: str | None = "Europe/Berlin",
    acronym: str = "testcon",
    **conference: Any,
) -> dict[str, Any]:
    """``days``: (date, talks) per conference day; rooms in the order their talks come."""
    out_days = []
    n = 0
    for index, (day, talks) in enumerate(days, start=1):
        rooms: dict[str, list[dict[str, Any]]] = {}
        for t in talks:
            n += 1
            rooms.setdefault(t.room, []).append(talk_json(t, n))
        out_days.append(
            {
                "index": index,
                "date": day,
                "day_start": f"{day}T04:00:00",
                "day_end": f"{day}T03:59:00",
                "rooms": rooms,
            }
        )
    conf: dict[str, Any] = {"acronym": acronym, "title": f"Test conference {acronym}"}
    if zone is not None:
        conf["time_zone_name"] = zone
    conf.update(conference)
    conf["days"] = out_days
    return {"$schema": "https://c3voc.de/schedule/schema.json", "schedule": {
        "version": "1.0", "base_url": "https://example.org/", "conference": conf}}  # fmt: skip


def frab_xml(
    days: list[tuple[str, list[T]]],
    *,
    zone: str | None = "Europe/Berlin",
    acronym: str = "testcon",
    person: str = '<person id="{n}">Speaker {n}</person>',
    head: str = "",
) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', head, "<schedule>", "  <conference>"]
    lines.append(f"    <acronym>{acronym}</acronym>")
    lines.append(f"    <title>Test conference {acronym}</title>")
    if zone is not None:
        lines.append(f"    <time_zone_name>{zone}</time_zone_name>")
    lines.append("  </conference>")
    n = 0
    for index, (day, talks) in enumerate(days, start=1):
        lines.append(f'  <day index="{index}" date="{day}">')
        rooms: dict[str, list[T]] = {}
        for t in talks:
            rooms.setdefault(t.room, []).append(t)
        for room, items in rooms.items():
            lines.append(f'    <room name="{escape(room)}">')
            for t in items:
                n += 1
                lines.append(f'      <event guid="7f3c2a10-0000-4000-8000-{n:012d}" id="{n}">')
                if t.date is not None:
                    lines.append(f"        <date>{t.date}</date>")
                lines.append(f"        <start>{t.hhmm}</start>")
                lines.append(f"        <duration>{t.duration}</duration>")
                lines.append(f"        <room>{escape(room)}</room>")
                lines.append(f"        <slug>{t.slug}</slug>")
                lines.append(f"        <title>{escape(str(t.title))}</title>")
                for key, value in t.extra.items():
                    lines.append(f"        <{key}>{value}</{key}>")
                lines.append("        <language>en</language>")
                lines.append(f"        <persons>{person.format(n=n)}</persons>")
                lines.append("      </event>")
            lines.append("    </room>")
        lines.append("  </day>")
    lines.append("</schedule>")
    return "\n".join(line for line in lines if line) + "\n"


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the first line containing ``needle``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")
