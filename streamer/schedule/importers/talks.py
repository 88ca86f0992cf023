"""From raw talks (pretalx/frab JSON objects, frab XML events made into the same shape) to
Talks with absolute times, once the event's zone is settled (``zones.settle``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from streamer.schedule.importers.base import (
    Found,
    Talk,
    after,
    flag,
    language,
    parse_duration,
    text_of,
    title_of,
)
from streamer.schedule.importers.zones import settle
from streamer.schedule.model import DAY_CHANGE
from streamer.schedule.values import kind, parse_when


@dataclass
class RawTalk:
    """A talk object as the source holds it, with where it sits."""

    data: Mapping[str, Any]
    line: int
    room: str
    day: int = 0  # the source's day index; 0: numbered by date
    day_date: str | None = None  # the day's date as written
    day_start: str | None = None  # the day's start (ISO), for talks without a date

    @property
    def key(self) -> str:
        for name in ("slug", "guid", "id"):
            value = self.data.get(name)
            if isinstance(value, str | int) and str(value).strip():
                return str(value).strip()
        return ""

    @property
    def label(self) -> str:
        title = self.data.get("title")
        return f"talk {self.key or (title if isinstance(title, str) else '?')!r}"


def finish(found: Found, raws: list[RawTalk], cli_zone: ZoneInfo | None) -> None:
    """Settle the zone from the raw dates, then read every talk into ``found.talks``."""
    dates = [
        (raw.line, raw.label, raw.data["date"])
        for raw in raws
        if isinstance(raw.data.get("date"), str) and raw.data["date"].strip()
    ]
    zone = settle(found, cli_zone, dates, any_undated=len(dates) < len(raws))
    if zone is None:
        return
    for raw in raws:
        talk = read(found, raw, zone)
        if talk is not None:
            found.talks.append(talk)


def read(found: Found, raw: RawTalk, zone: ZoneInfo) -> Talk | None:
    d, line, label = raw.data, raw.line, raw.label
    errors = len(found.errors)
    start = _start(found, raw, zone)
    duration_text = d.get("duration")
    duration: timedelta | None = None
    if start is not None:
        if duration_text is None or not str(duration_text).strip():
            found.skip(line, f"{label}: no duration")
            return None
        try:
            duration = parse_duration(str(duration_text))
        except ValueError as exc:
            found.skip(line, f"{label}: {exc}")
            return None
    lang = language(d.get("language"), found, line, label)
    values: dict[str, Any] = {}
    for key, source, reader in (
        ("title", "title", title_of),
        ("subtitle", "subtitle", text_of),
        ("track", "track", text_of),
        ("description", "abstract", text_of),
    ):
        try:
            values[key] = reader(d.get(source), f"{source} of {label}", lang)
        except ValueError as exc:
            found.error(line, str(exc))
    if not values.get("description"):
        try:
            values["description"] = text_of(d.get("description"), f"description of {label}", lang)
        except ValueError as exc:
            found.error(line, str(exc))
    speakers = _speakers(found, d.get("persons"), line, label)
    try:
        record = not flag(d.get("do_not_record"))
    except ValueError as exc:
        found.error(line, f"{label}: do_not_record: {exc}")
        record = True
    if len(found.errors) > errors or start is None or duration is None:
        return None
    return Talk(
        key=raw.key,
        start=start,
        end=after(start, duration),
        title=values.get("title") or {lang or "und": raw.key or "?"},
        room=str(d.get("room") or raw.room).strip(),
        day=raw.day,
        line=line,
        label=label,
        day_date=_date(raw.day_date),
        subtitle=values.get("subtitle"),
        speakers=speakers,
        track=values.get("track"),
        language=lang,
        record=record,
        description=values.get("description"),
    )


def _start(found: Found, raw: RawTalk, zone: ZoneInfo) -> datetime | None:
    """The talk's start: its absolute ``date``; the day's date + ``start`` only as a last resort
    (a start before the day's own start, 04:00 by default, is after midnight)."""
    d, line, label = raw.data, raw.line, raw.label
    text = d.get("date")
    if isinstance(text, str) and text.strip():
        try:
            return parse_when(text, zone)
        except ValueError as exc:
            found.error(line, f"{label}: bad date: {exc}")
            return None
    start = d.get("start")
    if raw.day_date and isinstance(start, str) and start.strip():
        try:
            moment = parse_when(f"{raw.day_date}T{start.strip()}", zone)
        except ValueError as exc:
            found.error(line, f"{label}: bad day date or start: {exc}")
            return None
        boundary = _boundary(raw.day_start, zone)
        if moment.time() < boundary:
            moment = parse_when(
                f"{(moment.date() + timedelta(days=1)).isoformat()}T{start.strip()}", zone
            )
        found.warn(
            line,
            f"{label}: no absolute date; used the day's date and start",
            "no-date",
            "talks without an absolute date (the day's date and start were used)",
        )
        return moment
    found.error(line, f"{label}: no date (an ISO 8601 start with offset)")
    return None


def _boundary(day_start: str | None, tz: tzinfo) -> Any:
    if day_start:
        try:
            return parse_when(day_start, tz).time()
        except ValueError:
            pass
    return DAY_CHANGE


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def _speakers(found: Found, persons: Any, line: int, label: str) -> list[dict[str, str]]:
    """``persons`` as a list of {public_name|name|full_name} objects or of plain names."""
    if persons is None:
        return []
    if not isinstance(persons, list):
        found.error(line, f"persons of {label} must be a list, got {kind(persons)}")
        return []
    out: list[dict[str, str]] = []
    for person in persons:
        if isinstance(person, str):
            name: Any = person
        elif isinstance(person, Mapping):
            name = person.get("public_name") or person.get("name") or person.get("full_name")
        else:
            name = None
        if not isinstance(name, str):
            what = json.dumps(person, ensure_ascii=False)[:60]
            found.error(line, f"a person of {label} has no name: {what}")
            continue
        if name.strip():
            out.append({"name": name.strip()})
    return out
