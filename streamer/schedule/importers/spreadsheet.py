"""A spreadsheet export (CSV or TSV) with a header row; the columns are in ``COLUMNS`` and
docs/schedule.md. Times without an offset are in ``--timezone``, which is required."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from streamer.errors import ScheduleError
from streamer.schedule.importers.base import Found, Talk, after, flag, language, parse_duration
from streamer.schedule.values import UNDETERMINED, parse_when

NAME = "csv"
COLUMNS = (
    "id",
    "day",
    "date",
    "start",
    "end",
    "duration",
    "title",
    "title_ko",
    "title_en",
    "subtitle",
    "speakers",
    "affiliations",
    "track",
    "language",
    "room",
    "url",
    "record",
    "description",
)
_CLOCK = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


def detect(text: str) -> bool:
    """A first line of column names separated by commas, semicolons or tabs."""
    first = text.lstrip("\ufeff").split("\n", 1)[0].lower()
    return "start" in first and any(sep in first for sep in ",;\t")


def read(text: str, name: str, tz: ZoneInfo | None, strict: bool) -> Found:
    if tz is None:
        raise ScheduleError(f"{name}: a CSV import needs --timezone (an IANA name like Asia/Seoul)")
    found = Found(name, zone=tz.key, strict=strict)
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    try:  # a malformed file (e.g. a newline inside an unquoted field) is the user's to fix
        header = [(h or "").strip().lower() for h in reader.fieldnames or []]
        reader.fieldnames = header
        unknown = [h for h in header if h and h not in COLUMNS]
        if unknown:  # a working spreadsheet often has notes columns: say so, do not refuse
            known = ", ".join(COLUMNS)
            found.warn(1, f"ignored unknown columns {', '.join(unknown)} (known: {known})")
        missing = [c for c in ("start", "room") if c not in header]
        if not {"title", "title_ko", "title_en"} & set(header):
            missing.append("title (or title_ko/title_en)")
        if "end" not in header and "duration" not in header:
            missing.append("end (or duration)")
        if missing:
            found.error(1, f"missing columns: {', '.join(missing)}")
            return found
        for row in reader:
            clean = {k: (v or "").strip() for k, v in row.items() if k}
            if any(clean.values()):
                talk = _talk(clean, reader.line_num, tz, found)
                if talk is not None:
                    found.talks.append(talk)
    except csv.Error as exc:
        found.error(reader.line_num or 1, f"not readable as CSV: {exc}")
    return found


def _at(row: dict[str, str], column: str, line: int, tz: ZoneInfo, found: Found) -> datetime | None:
    value = row.get(column, "")
    if _CLOCK.fullmatch(value):
        day = row.get("date", "")
        if not day:
            found.error(line, f"{column} {value!r} is a time; add a date column")
            return None
        dotted = _DOTTED.match(day)
        if dotted:
            d, m, y = dotted.groups()
            found.error(
                line,
                f"date {day!r} is day.month.year; write it as {y}-{int(m):02d}-{int(d):02d}",
            )
            return None
        value = f"{day}T{value}"
    try:
        return parse_when(value, tz)
    except ValueError as exc:
        found.error(line, f"bad {column}: {exc}")
        return None


def _end(
    row: dict[str, str], start: datetime, line: int, tz: ZoneInfo, found: Found
) -> datetime | None:
    if row.get("end"):
        end = _at(row, "end", line, tz, found)
        if end is not None and end <= start and _CLOCK.fullmatch(row["end"]):
            # an HH:MM end after midnight: the same wall-clock time on the next date
            end = parse_when(f"{(end.date() + timedelta(days=1)).isoformat()}T{row['end']}", tz)
        return end
    if row.get("duration"):
        try:
            return after(start, parse_duration(row["duration"]))  # elapsed time, not wall clock
        except ValueError as exc:
            found.error(line, str(exc))
            return None
    found.error(line, "no end or duration")
    return None


def _talk(row: dict[str, str], line: int, tz: ZoneInfo, found: Found) -> Talk | None:
    errors = len(found.errors)
    start = _at(row, "start", line, tz, found)
    end = _end(row, start, line, tz, found) if start is not None else None
    title_text = row.get("title") or row.get("title_en") or row.get("title_ko") or ""
    if not title_text:
        found.error(line, "no title")
    if not row.get("room"):
        found.error(line, "no room")
    day = 0
    if row.get("day"):
        if row["day"].isdigit() and int(row["day"]) > 0:
            day = int(row["day"])
        else:
            found.error(line, f"day {row['day']!r} is not a day number (1, 2, ...)")
    try:
        record = flag(row.get("record"), default=True)
    except ValueError as exc:
        found.error(line, f"record: {exc}")
    lang = language(row.get("language"), found, line, f"row {line}")
    if len(found.errors) > errors or start is None or end is None:
        return None
    title = {k: row[f"title_{k}"] for k in ("ko", "en") if row.get(f"title_{k}")}
    return Talk(
        key=row.get("id") or "",
        start=start,
        end=end,
        title=title or {lang or UNDETERMINED: title_text},
        room=row["room"],
        day=day,
        line=line,
        label=f"row {line}",
        subtitle=row.get("subtitle") or None,
        speakers=_speakers(row, line, found),
        track=row.get("track") or None,
        language=lang,
        record=record,
        description=row.get("description") or None,
        url=row.get("url") or None,
    )


def _speakers(row: dict[str, str], line: int, found: Found) -> list[dict[str, str]]:
    names = [n.strip() for n in row.get("speakers", "").split(";") if n.strip()]
    affiliations = [a.strip() for a in row.get("affiliations", "").split(";")]
    if row.get("affiliations") and len(affiliations) != len(names):
        found.warn(line, f"{len(names)} speakers but {len(affiliations)} affiliations")
    out = []
    for i, speaker in enumerate(names):
        entry = {"name": speaker}
        if i < len(affiliations) and affiliations[i]:
            entry["affiliation"] = affiliations[i]
        out.append(entry)
    return out
