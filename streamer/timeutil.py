"""Timezone-aware time helpers; naive datetimes never leave this module."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streamer.errors import ConfigError


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def zone(name: str) -> ZoneInfo:
    """An IANA zone by name, or ConfigError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {name!r}") from exc


def aware(value: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz`` to a naive datetime; leave an aware one as it is."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def parse_iso(text: str, tz: tzinfo = UTC) -> datetime:
    """Parse ISO 8601; a value without an offset is taken in ``tz``."""
    return aware(datetime.fromisoformat(text.replace("Z", "+00:00")), tz)


def iso(value: datetime, tz: tzinfo | None = None) -> str:
    """ISO 8601 with offset (seconds precision unless there are milliseconds)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    if tz is not None:
        value = value.astimezone(tz)
    spec = "milliseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec)
