"""Import a conference schedule from pretalx/frab JSON, frab XML or CSV into a Program.

Every format is read into a list of ``_Talk`` (absolute start and end, room, conference day),
then one broadcast is made per (room, conference day), spanning its talks. A talk's absolute
``date`` (ISO 8601 with offset) is the truth: pretalx/frab days run from ``day_start`` to
``day_end`` (04:00–03:59 by default), so a talk at 01:00 belongs to the previous conference
day, and ``day + start`` would put it 24 hours early.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streamer.errors import ScheduleError
from streamer.schedule.load import UNDETERMINED, parse_when, program_from_data
from streamer.schedule.model import ID_PATTERN, Program, Title
from streamer.schedule.urls import normalise_url

FORMATS = ("pretalx-json", "frab-xml", "csv")
DAY_CHANGE = time(4, 0)
"""When no day structure says otherwise, a talk before 04:00 belongs to the previous day."""

_ID_RE = re.compile(ID_PATTERN)
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


@dataclass
class _Talk:
    key: str  # slug or guid, before sanitising
    start: datetime
    end: datetime
    title: str
    room: str
    day: int  # 1-based conference day
    where: str  # for messages: "file: talk 'x'" or "file:12"
    title_ko: str | None = None
    title_en: str | None = None
    speakers: list[dict[str, str]] = field(default_factory=list)
    track: str | None = None
    language: str | None = None
    record: bool = True
    description: str | None = None
    url: str | None = None


@dataclass
class _Source:
    """What a reader found: conference facts and talks."""

    title: str | None = None
    acronym: str | None = None
    zone: str | None = None
    talks: list[_Talk] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def import_schedule(
    source: Path,
    *,
    fmt: str = "auto",
    room_urls: dict[str, str] | None = None,
    event_id: str | None = None,
    timezone: str | None = None,
) -> tuple[Program, list[str]]:
    """Read ``source`` and build a valid Program; returns it with the importer's warnings.

    ``room_urls`` maps a room name to its broadcast URL; ``timezone`` is the zone for times
    without an offset (required for CSV unless every time has one). Raises ScheduleError.
    """
    name = str(source)
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ScheduleError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScheduleError(f"{name}: not UTF-8 text") from None
    fmt = detect_format(source, text) if fmt == "auto" else fmt
    tz = _zone(timezone, name) if timezone else None
    if fmt == "pretalx-json":
        found = read_pretalx_json(text, name, tz)
    elif fmt == "frab-xml":
        found = read_frab_xml(text, name, tz)
    elif fmt == "csv":
        found = read_csv(text, name, tz)
    else:
        raise ScheduleError(f"{name}: unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if found.errors:
        raise ScheduleError(f"{name}: cannot import ({len(found.errors)} problems)", found.errors)
    if not found.talks:
        raise ScheduleError(f"{name}: no talks found")
    return _build(found, name, room_urls or {}, event_id, tz, source.stem)


def detect_format(source: Path, text: str) -> str:
    suffix = source.suffix.lower()
    if suffix == ".json":
        return "pretalx-json"
    if suffix == ".xml":
        return "frab-xml"
    if suffix in (".csv", ".tsv"):
        return "csv"
    head = text.lstrip()[:1]
    return {"{": "pretalx-json", "<": "frab-xml"}.get(head, "csv")


# -- helpers ------------------------------------------------------------------------------------


def slugify(text: str, limit: int = 80) -> str:
    """Lower-case ASCII id matching the schedule's id pattern ('' when nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-_")
    return slug[:limit].rstrip("-_")


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{where}: unknown timezone {name!r}") from None


def parse_duration(text: str) -> timedelta:
    """``HH:MM`` or ``HH:MM:SS`` (frab/pretalx), or ``D:HH:MM``-free minutes like ``45``."""
    value = text.strip()
    if re.fullmatch(r"\d+", value):
        return timedelta(minutes=int(value))
    parts = value.split(":")
    if len(parts) in (2, 3) and all(p.isdigit() for p in parts):
        h, m, *rest = (int(p) for p in parts)
        return timedelta(hours=h, minutes=m, seconds=rest[0] if rest else 0)
    raise ValueError(f"duration {text!r} is not HH:MM")


def _bool(value: Any, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE or not text:
        return False if text else default
    raise ValueError(f"{value!r} is not true or false")


def _when(
    text: str | None,
    day_date: str | None,
    start: str | None,
    tz: tzinfo,
    day_start: datetime | None,
    found: _Source,
    where: str,
) -> datetime | None:
    """The talk's start: its absolute ``date``; day + HH:MM only as a last resort."""
    if text:
        try:
            return parse_when(text, tz)
        except ValueError as exc:
            found.errors.append(f"{where}: bad date: {exc}")
            return None
    if day_date and start:
        try:
            moment = parse_when(f"{day_date}T{start}", tz)
        except ValueError as exc:
            found.errors.append(f"{where}: bad day/start: {exc}")
            return None
        # before the day's start (04:00 by default) means after midnight of the next date
        boundary = day_start.astimezone(tz).time() if day_start else DAY_CHANGE
        if moment.time() < boundary:
            moment += timedelta(days=1)
        found.warnings.append(f"{where}: no absolute date; used the day's date and start")
        return moment
    found.errors.append(f"{where}: no date (ISO 8601 start with offset)")
    return None


def _check_offsets(found: _Source, tz: ZoneInfo, texts: Iterable[tuple[str, str]]) -> None:
    """Warn once when a talk's written offset disagrees with the named zone; offsets win."""
    bad: list[str] = []
    for where, text in texts:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        if moment.tzinfo is None:
            continue
        if moment.utcoffset() != moment.astimezone(tz).utcoffset():
            bad.append(where)
    if bad:
        found.warnings.append(
            f"time_zone_name {tz.key} disagrees with the UTC offsets written in {len(bad)} talk"
            f" dates (first: {bad[0]}); the offsets were trusted"
        )


def _language(value: Any, found: _Source, where: str) -> str | None:
    if not value:
        return None
    code = str(value).strip().lower()
    if _LANG_RE.match(code):
        return code
    found.warnings.append(f"{where}: language {value!r} is not a language code; left out")
    return None


# -- pretalx / frab JSON ------------------------------------------------------------------------


def read_pretalx_json(text: str, name: str, tz: ZoneInfo | None) -> _Source:
    """The c3voc schedule.json: ``schedule.conference.days[].rooms{room: [talks]}``."""
    found = _Source()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    conference = (data.get("schedule") or {}).get("conference") if isinstance(data, dict) else None
    if not isinstance(conference, dict):
        raise ScheduleError(f"{name}: not a pretalx/frab schedule (no schedule.conference)")
    found.title = conference.get("title")
    found.acronym = conference.get("acronym")
    found.zone = conference.get("time_zone_name")
    zone = _source_zone(found, tz, name)
    dates: list[tuple[str, str]] = []
    for index, day in enumerate(conference.get("days") or [], start=1):
        day_no = int(day.get("index") or index)
        day_start = _maybe_time(day.get("day_start"), zone)
        rooms = day.get("rooms") or {}
        for room, talks in rooms.items():
            for talk in talks or []:
                key = str(talk.get("slug") or talk.get("guid") or talk.get("id") or "")
                where = f"{name}: talk {key or talk.get('title')!r}"
                start = _when(
                    talk.get("date"),
                    day.get("date"),
                    talk.get("start"),
                    zone,
                    day_start,
                    found,
                    where,
                )
                if talk.get("date"):
                    dates.append((where, str(talk["date"])))
                item = _talk_from(talk, key, start, str(talk.get("room") or room), day_no, where)
                if item is not None:
                    item.speakers = [
                        {"name": n}
                        for p in talk.get("persons") or []
                        if (n := str(p.get("public_name") or p.get("name") or "").strip())
                    ]
                    item.language = _language(talk.get("language"), found, where)
                    try:
                        item.record = not _bool(talk.get("do_not_record"))
                    except ValueError as exc:
                        found.errors.append(f"{where}: do_not_record: {exc}")
                    found.talks.append(item)
                elif start is not None:
                    found.errors.append(f"{where}: no duration")
    _check_offsets(found, zone, dates)
    return found


def _source_zone(found: _Source, tz: ZoneInfo | None, name: str) -> ZoneInfo:
    if found.zone:
        zone = _zone(str(found.zone), f"{name}: time_zone_name")
        if tz is not None and tz.key != zone.key:
            found.warnings.append(
                f"--timezone {tz.key} overrides the source's time_zone_name {zone.key}"
            )
            return tz
        return zone
    if tz is not None:
        return tz
    found.warnings.append("no time_zone_name in the source and no --timezone; used UTC")
    return ZoneInfo("UTC")


def _maybe_time(value: Any, tz: tzinfo) -> datetime | None:
    try:
        return parse_when(value, tz) if value else None
    except ValueError:
        return None


def _talk_from(
    talk: dict[str, Any], key: str, start: datetime | None, room: str, day: int, where: str
) -> _Talk | None:
    if start is None:
        return None
    try:
        duration = parse_duration(str(talk.get("duration") or ""))
    except ValueError:
        return None
    return _Talk(
        key=key,
        start=start,
        end=start + duration,
        title=str(talk.get("title") or key).strip(),
        room=room,
        day=day,
        where=where,
        track=(str(talk["track"]).strip() or None) if talk.get("track") else None,
        description=(str(talk.get("abstract") or "").strip() or None),
    )


# -- frab XML -----------------------------------------------------------------------------------


def read_frab_xml(text: str, name: str, tz: ZoneInfo | None) -> _Source:
    """frab's schedule.xml: ``<schedule><conference/><day><room><event>``."""
    found = _Source()
    # no DTD means no entity expansion (billion laughs) and no external entities
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise ScheduleError(f"{name}: XML with a DOCTYPE or entities is refused")
    try:
        root = ET.fromstring(text)  # noqa: S314 - DTDs refused above
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else 1
        raise ScheduleError(f"{name}:{line}: invalid XML: {exc}") from None
    if root.tag != "schedule":
        raise ScheduleError(f"{name}: not a frab schedule.xml (root is <{root.tag}>)")
    conference = root.find("conference")
    if conference is not None:
        found.title = _xml_text(conference, "title")
        found.acronym = _xml_text(conference, "acronym")
        found.zone = _xml_text(conference, "time_zone_name")
    zone = _source_zone(found, tz, name)
    dates: list[tuple[str, str]] = []
    for index, day in enumerate(root.findall("day"), start=1):
        day_no = int(day.get("index") or index)
        day_start = _maybe_time(day.get("start"), zone)
        for room in day.findall("room"):
            for event in room.findall("event"):
                key = _xml_text(event, "slug") or event.get("guid") or event.get("id") or ""
                where = f"{name}: event {key or _xml_text(event, 'title')!r}"
                date_text = _xml_text(event, "date")
                start = _when(
                    date_text,
                    day.get("date"),
                    _xml_text(event, "start"),
                    zone,
                    day_start,
                    found,
                    where,
                )
                if date_text:
                    dates.append((where, date_text))
                talk = {
                    "duration": _xml_text(event, "duration"),
                    "title": _xml_text(event, "title"),
                    "track": _xml_text(event, "track"),
                    "abstract": _xml_text(event, "abstract"),
                }
                item = _talk_from(
                    talk,
                    key,
                    start,
                    _xml_text(event, "room") or room.get("name") or "",
                    day_no,
                    where,
                )
                if item is None:
                    if start is not None:
                        found.errors.append(f"{where}: no duration")
                    continue
                persons = event.find("persons")
                item.speakers = [
                    {"name": (p.text or "").strip()}
                    for p in (persons.iter("person") if persons is not None else [])
                    if (p.text or "").strip()
                ]
                item.language = _language(_xml_text(event, "language"), found, where)
                optout = event.find("recording/optout")
                if optout is None:
                    optout = event.find("optout")
                try:
                    item.record = not _bool(optout.text if optout is not None else None)
                except ValueError as exc:
                    found.errors.append(f"{where}: optout: {exc}")
                found.talks.append(item)
    _check_offsets(found, zone, dates)
    return found


def _xml_text(node: ET.Element, path: str) -> str | None:
    child = node.find(path)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


# -- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "day",
    "date",
    "start",
    "end",
    "duration",
    "title",
    "title_ko",
    "title_en",
    "speakers",
    "affiliations",
    "track",
    "language",
    "room",
    "url",
    "record",
    "description",
)


def read_csv(text: str, name: str, tz: ZoneInfo | None) -> _Source:
    """A spreadsheet export with a header row; columns in ``CSV_COLUMNS`` (docs/schedule.md)."""
    found = _Source()
    if tz is None:
        raise ScheduleError(f"{name}: a CSV import needs --timezone (an IANA name like Asia/Seoul)")
    found.zone = tz.key
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    reader.fieldnames = header
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if unknown:  # a working spreadsheet often has notes columns: say so, do not refuse
        found.warnings.append(
            f"{name}:1: ignored unknown columns {', '.join(unknown)}"
            f" (known: {', '.join(CSV_COLUMNS)})"
        )
    missing = [c for c in ("start", "room") if c not in header]
    if not {"title", "title_ko", "title_en"} & set(header):
        missing.append("title (or title_ko/title_en)")
    if "end" not in header and "duration" not in header:
        missing.append("end (or duration)")
    if missing:
        found.errors.append(f"{name}:1: missing columns: {', '.join(missing)}")
        return found
    rows: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        clean = {k: (v or "").strip() for k, v in row.items() if k}
        if any(clean.values()):
            rows.append((reader.line_num, clean))
    day_dates: dict[date, int] = {}
    for line, row in rows:
        talk = _csv_talk(row, f"{name}:{line}", tz, found)
        if talk is not None:
            found.talks.append(talk)
    # conference days numbered by date unless a day column gave them
    for talk in found.talks:
        if talk.day == 0:
            conference_date = (talk.start - timedelta(hours=DAY_CHANGE.hour)).date()
            day_dates.setdefault(conference_date, 0)
    for index, day in enumerate(sorted(day_dates), start=1):
        day_dates[day] = index
    for talk in found.talks:
        if talk.day == 0:
            talk.day = day_dates[(talk.start - timedelta(hours=DAY_CHANGE.hour)).date()]
    return found


def _csv_talk(row: dict[str, str], where: str, tz: ZoneInfo, found: _Source) -> _Talk | None:
    def at(column: str) -> datetime | None:
        value = row.get(column, "")
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value):
            if not row.get("date"):
                found.errors.append(f"{where}: {column} {value!r} is a time; add a date column")
                return None
            value = f"{row['date']}T{value}"
        try:
            return parse_when(value, tz)
        except ValueError as exc:
            found.errors.append(f"{where}: bad {column}: {exc}")
            return None

    start = at("start")
    if start is None:
        return None
    end: datetime | None = None
    if row.get("end"):
        end = at("end")
        if end is not None and end <= start and len(row["end"]) <= 8:
            end += timedelta(days=1)  # an HH:MM end after midnight
    elif row.get("duration"):
        try:
            end = start + parse_duration(row["duration"])
        except ValueError as exc:
            found.errors.append(f"{where}: {exc}")
    else:
        found.errors.append(f"{where}: no end or duration")
    title = row.get("title") or row.get("title_en") or row.get("title_ko") or ""
    if not title:
        found.errors.append(f"{where}: no title")
    if not row.get("room"):
        found.errors.append(f"{where}: no room")
    day = 0
    if row.get("day"):
        if row["day"].isdigit() and int(row["day"]) > 0:
            day = int(row["day"])
        else:
            found.errors.append(f"{where}: day {row['day']!r} is not a day number (1, 2, ...)")
    try:
        record = _bool(row.get("record"), default=True)
    except ValueError as exc:
        found.errors.append(f"{where}: record: {exc}")
        return None
    if end is None or not title or not row.get("room"):
        return None
    names = [n.strip() for n in row.get("speakers", "").split(";") if n.strip()]
    affiliations = [a.strip() for a in row.get("affiliations", "").split(";")]
    if row.get("affiliations") and len(affiliations) != len(names):
        found.warnings.append(
            f"{where}: {len(names)} speakers but {len(affiliations)} affiliations"
        )
    speakers = []
    for i, speaker in enumerate(names):
        entry = {"name": speaker}
        if i < len(affiliations) and affiliations[i]:
            entry["affiliation"] = affiliations[i]
        speakers.append(entry)
    return _Talk(
        key=row.get("id") or "",
        start=start,
        end=end,
        title=title,
        title_ko=row.get("title_ko") or None,
        title_en=row.get("title_en") or None,
        room=row["room"],
        day=day,
        where=where,
        speakers=speakers,
        track=row.get("track") or None,
        language=_language(row.get("language"), found, where),
        record=record,
        description=row.get("description") or None,
        url=row.get("url") or None,
    )


# -- building the program -----------------------------------------------------------------------


def _title(talk: _Talk) -> Title:
    title: Title = {}
    if talk.title_ko:
        title["ko"] = talk.title_ko
    if talk.title_en:
        title["en"] = talk.title_en
    if not title:
        title[talk.language or UNDETERMINED] = talk.title
    return title


def _unique(base: str, taken: set[str], fallback: str) -> str:
    candidate = base or fallback
    if not _ID_RE.fullmatch(candidate):
        candidate = fallback
    out, n = candidate, 2
    while out in taken:
        suffix = f"-{n}"
        out = candidate[: 80 - len(suffix)] + suffix
        n += 1
    taken.add(out)
    return out


def _build(
    found: _Source,
    name: str,
    room_urls: dict[str, str],
    event_id: str | None,
    tz: ZoneInfo | None,
    stem: str,
) -> tuple[Program, list[str]]:
    warnings = list(found.warnings)
    zone = found.zone or (tz.key if tz else "UTC")
    eid = event_id or slugify(found.acronym or "") or slugify(found.title or "") or slugify(stem)
    if not _ID_RE.fullmatch(eid or ""):
        raise ScheduleError(f"{name}: cannot make an event id from the source; pass --event-id")
    for room in room_urls:
        if room not in {t.room for t in found.talks}:
            warnings.append(f"--room-url names room {room!r}, which has no talks")
    # rooms in order of first appearance; slugs unique
    room_ids: dict[str, str] = {}
    taken_rooms: set[str] = set()
    for talk in sorted(found.talks, key=lambda t: (t.day, t.start)):
        if talk.room not in room_ids:
            slug = slugify(talk.room, 60)
            if not re.search(r"[a-z]", slug):  # "세미나실 2" leaves only "2"
                slug = f"room-{slug}" if slug else ""
            room_ids[talk.room] = _unique(slug, taken_rooms, f"room{len(room_ids) + 1}")
    groups: dict[tuple[str, int], list[_Talk]] = {}
    for talk in found.talks:
        groups.setdefault((talk.room, talk.day), []).append(talk)
    broadcasts: list[dict[str, Any]] = []
    broadcast_of: dict[tuple[str, int], str] = {}
    for (room, day), talks in sorted(groups.items(), key=lambda kv: (kv[0][1], room_ids[kv[0][0]])):
        bid = f"{room_ids[room]}-d{day}"
        broadcast_of[(room, day)] = bid
        # a CSV url column names the room's stream; any row of the room may carry it
        url = room_urls.get(room) or next(
            (t.url for t in found.talks if t.room == room and t.url), None
        )
        if url:
            try:
                url = normalise_url(url)
            except ValueError as exc:
                raise ScheduleError(f"{name}: room {room!r}: invalid url: {exc}") from None
        else:
            warnings.append(f"room {room!r} has no broadcast url (pass --room-url '{room}=URL')")
        broadcasts.append(
            {
                "id": bid,
                "title": {UNDETERMINED: f"{room}, day {day}"},
                "url": url,
                "start": min(t.start for t in talks),
                "end": max(t.end for t in talks),
            }
        )
    sessions: list[dict[str, Any]] = []
    taken: set[str] = set()
    for talk in sorted(found.talks, key=lambda t: (t.start, t.room)):
        sid = _unique(slugify(talk.key), taken, f"talk-{len(taken) + 1}")
        if talk.key and sid != slugify(talk.key):
            warnings.append(f"{talk.where}: id {talk.key!r} is taken or invalid; used {sid!r}")
        session: dict[str, Any] = {
            "id": sid,
            "broadcast": broadcast_of[(talk.room, talk.day)],
            "start": talk.start,
            "end": talk.end,
            "title": _title(talk),
            "speakers": talk.speakers,
            "record": talk.record,
        }
        for key in ("track", "language", "description"):
            if getattr(talk, key):
                session[key] = getattr(talk, key)
        sessions.append(session)
    data = {
        "event": {
            "id": eid,
            "title": {UNDETERMINED: found.title or eid},
            "timezone": zone,
        },
        "broadcasts": broadcasts,
        "sessions": sessions,
    }
    return program_from_data(data, source=name), warnings
