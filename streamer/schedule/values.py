"""Reading single schedule values: times in a zone, zone names, and how to name what is wrong."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

UNDETERMINED = "und"
"""Language key of a title written as a plain string with no session language to go by."""

_ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?([+-]\d\d:\d\d)?$")
_DATE_ONLY_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_DOTTED_DATE_RE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?!\d)")
EXAMPLE_TIME = "e.g. 2021-04-27T09:30 or 2021-04-27T09:30+09:00"


def parse_when(value: Any, tz: tzinfo) -> datetime:
    """A YAML/JSON time value as an aware datetime in ``tz``; ValueError says what is wrong."""
    if isinstance(value, str) and _ISO_RE.match(value):
        try:  # the common shape (what dump writes): no normalising needed
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a date and time: {value!r} ({EXAMPLE_TIME})") from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(tz)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        raise ValueError(f"{value.isoformat()} is a date without a time ({EXAMPLE_TIME})")
    elif isinstance(value, str):
        text = value.strip()
        if _DATE_ONLY_RE.match(text):
            raise ValueError(f"{text!r} is a date without a time ({EXAMPLE_TIME})")
        dotted = _DOTTED_DATE_RE.match(text)
        if dotted:  # 01.05.2024: say what it is rather than "not a date"
            day, month, year = dotted.groups()
            raise ValueError(
                f"{text!r} is a day.month.year date; write it as {year}-{int(month):02d}-"
                f"{int(day):02d} ({EXAMPLE_TIME})"
            )
        # YAML allows "2021-04-27 09:30:00 +09:00" and a lower-case t; fromisoformat does not
        norm = re.sub(r"^(\d{4}-\d{1,2}-\d{1,2})[Tt ]+", r"\1T", text)
        norm = re.sub(r"\s+(?=[Zz+-]\d*:?\d*$)", "", norm)
        norm = re.sub(r"[Zz]$", "+00:00", norm)
        try:
            moment = datetime.fromisoformat(norm)
        except ValueError:
            raise ValueError(f"not a date and time: {text!r} ({EXAMPLE_TIME})") from None
    else:
        raise ValueError(f"expected a date and time ({EXAMPLE_TIME}), got {kind(value)}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(tz)


def parse_date(value: Any) -> date:
    """A calendar date (``2021-04-27``); ValueError says what is wrong."""
    if isinstance(value, datetime):
        raise ValueError(f"expected a date like 2021-04-27, got a date and time ({value})")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_ONLY_RE.match(value.strip()):
        try:
            return date.fromisoformat("-".join(part.zfill(2) for part in value.strip().split("-")))
        except ValueError:
            pass
    raise ValueError(f"expected a date like 2021-04-27, got {kind(value)}")


def utc(moment: datetime) -> datetime:
    """For comparing: Python compares two datetimes that share one zone by their wall clocks,
    which is wrong across a daylight-saving change."""
    return moment.astimezone(UTC)


def kind(value: Any) -> str:
    """How a wrong value is named in a message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text ({value!r})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


@cache
def zones() -> frozenset[str]:
    return frozenset(available_timezones())


def suggest(word: str, known: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest known word, or an empty string."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError naming the closest known zone when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = suggest(name, zones())
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name like Asia/Seoul{hint})"
        ) from None


def hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def span(start: datetime, end: datetime) -> str:
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    return f"{hm(start)}–{hm(end)}"
