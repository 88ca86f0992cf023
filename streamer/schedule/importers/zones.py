"""The event's zone: ``--timezone``, else the source's zone name, else inferred from the UTC
offsets written in the talks' dates, else refused (times without any zone are not guessed)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from streamer.schedule.importers.base import Found
from streamer.schedule.values import zone as named_zone

_NAIVE = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?$")


def settle(
    found: Found,
    cli_zone: ZoneInfo | None,
    dates: list[tuple[int, str, str]],
    *,
    any_undated: bool = False,
) -> ZoneInfo | None:
    """The zone for the event and for times without an offset; None after an error.

    ``dates`` are (line, talk label, date text) of the talks that have one. Sets
    ``found.zone`` to the IANA name the schedule will carry.
    """
    source_zone = found.zone.strip() if isinstance(found.zone, str) else None
    if cli_zone is not None:
        if source_zone and source_zone != cli_zone.key:
            found.warn(0, f"--timezone {cli_zone.key} overrides the source's zone {source_zone}")
        found.zone = cli_zone.key
        return cli_zone
    if source_zone:
        try:
            zone = named_zone(source_zone)
        except ValueError as exc:
            found.error(0, f"the source's time_zone_name: {exc}; pass --timezone")
            return None
        _check_offsets(found, zone, dates)
        found.zone = zone.key
        return zone
    return _inferred(found, dates, any_undated)


def _offset(text: str) -> timedelta | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.utcoffset()


def _check_offsets(found: Found, zone: ZoneInfo, dates: list[tuple[int, str, str]]) -> None:
    """Warn once when the written offsets disagree with the named zone; the offsets win."""
    bad: list[tuple[int, str]] = []
    for line, label, text in dates:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        if moment.tzinfo is not None and moment.utcoffset() != moment.astimezone(zone).utcoffset():
            bad.append((line, label))
    if bad:
        line, label = bad[0]
        found.warn(
            line,
            f"time_zone_name {zone.key} disagrees with the UTC offsets written in {len(bad)}"
            f" talk dates (first: {label}); the offsets were trusted",
        )


def _hours(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _inferred(
    found: Found, dates: list[tuple[int, str, str]], any_undated: bool
) -> ZoneInfo | None:
    offsets = {o for _, _, text in dates if (o := _offset(text)) is not None}
    naive = any_undated or any(_NAIVE.match(text.strip()) for _, _, text in dates)
    if not offsets or naive:
        found.error(
            0,
            "the source names no time zone (time_zone_name) and its times carry no UTC offset:"
            " pass --timezone with the event's IANA zone, e.g. --timezone Europe/Brussels",
        )
        return None
    if len(offsets) > 1:
        written = ", ".join(_hours(o) for o in sorted(offsets))
        found.error(
            0,
            f"the source names no time zone and its dates carry the offsets {written}"
            " (a zone with daylight saving): pass --timezone with the event's IANA zone",
        )
        return None
    (offset,) = offsets
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    if rest:
        found.error(
            0,
            f"the source names no time zone and its dates carry the offset {_hours(offset)}:"
            " pass --timezone with the event's IANA zone",
        )
        return None
    # Etc/GMT signs are inverted (POSIX): UTC+01:00 is Etc/GMT-1
    name = "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
    found.warn(
        0,
        f"the source names no time zone; its dates carry the fixed offset {_hours(offset)},"
        f" used as {name} (pass --timezone with the event's IANA zone to follow its"
        " daylight-saving changes)",
    )
    found.zone = name
    return ZoneInfo(name)
