"""The entries of the in-memory catalog: one published VOD with its folded search fields,
one event's parsed ``index.json``, and the filters of ``GET /api/v1/vods``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from streamer.api.httpcache import CachedBody
from streamer.errors import ConfigError, StorageError
from streamer.publish.layout import index_key
from streamer.timeutil import parse_iso, zone
from streamer.vod import VodRecord

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SortKey = tuple[int, str]
"""(start in µs since the epoch, VOD id): the stable order of every list."""


def micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (Korean stays readable, not ``\\uXXXX``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class VodFilter:
    """Normalised filters of ``GET /api/v1/vods``; hashable, so it keys the caches."""

    event: str | None = None
    day: str | None = None
    track: str | None = None
    language: str | None = None
    speaker: str | None = None
    q: tuple[str, ...] = ()
    updated_since_us: int | None = None

    @classmethod
    def make(
        cls,
        *,
        event: str | None = None,
        day: str | None = None,
        track: str | None = None,
        language: str | None = None,
        speaker: str | None = None,
        q: str | None = None,
        updated_since: datetime | None = None,
    ) -> VodFilter:
        def fold(text: str | None) -> str | None:
            text = (text or "").strip().casefold()
            return text or None

        return cls(
            event=event or None,
            day=day or None,
            track=fold(track),
            language=fold(language),
            speaker=fold(speaker),
            q=tuple(sorted(set((q or "").casefold().split()))),
            updated_since_us=None if updated_since is None else micros(updated_since),
        )


@dataclass(frozen=True, slots=True)
class VodEntry:
    """One published VOD: the record as in the index, its JSON, and folded search fields."""

    id: str
    event_id: str
    record: dict[str, Any]
    cached: CachedBody
    key: SortKey
    day: str
    track: str
    language: str
    speakers: str
    text: str
    updated_us: int | None

    def matches(self, f: VodFilter) -> bool:
        if f.event is not None and self.event_id != f.event:
            return False
        if f.day is not None and self.day != f.day:
            return False
        if f.track is not None and self.track != f.track:
            return False
        if f.language is not None and self.language != f.language:
            return False
        if f.speaker is not None and f.speaker not in self.speakers:
            return False
        if f.updated_since_us is not None and (
            self.updated_us is None or self.updated_us < f.updated_since_us
        ):
            return False
        return all(word in self.text for word in f.q)


def _entry(raw: dict[str, Any], tz: ZoneInfo) -> VodEntry:
    rec = VodRecord.model_validate(raw)
    start = parse_iso(rec.start)
    titles = " ".join(rec.title.values())
    speakers = "\n".join(s.name for s in rec.speakers)
    affiliations = " ".join(s.affiliation or "" for s in rec.speakers)
    updated = rec.updated_at or rec.published_at
    return VodEntry(
        id=rec.id,
        event_id=rec.event_id,
        record=raw,
        cached=CachedBody(dumps(raw)),
        key=(micros(start), rec.id),
        day=rec.day or start.astimezone(tz).date().isoformat(),
        track=(rec.track or "").casefold(),
        language=(rec.language or "").casefold(),
        speakers=speakers.casefold(),
        text=f"{titles}\n{speakers}\n{affiliations}\n{rec.track or ''}".casefold(),
        updated_us=None if updated is None else micros(parse_iso(updated)),
    )


@dataclass(frozen=True)
class EventData:
    """One event's index: its ``event`` object and its VODs in stable order."""

    id: str
    event: dict[str, Any]
    timezone: str
    entries: list[VodEntry]
    generated_at: str | None
    token: str

    @property
    def title(self) -> dict[str, str]:
        title = self.event.get("title")
        return title if isinstance(title, dict) else {"en": self.id}


def parse_index(event_id: str, data: bytes, token: str) -> EventData:
    """``{event}/index.json`` → EventData; invalid items are skipped with a warning."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise StorageError(f"{index_key(event_id)} is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items", []), list):
        raise StorageError(f"{index_key(event_id)} is not an index document")
    event = doc.get("event") if isinstance(doc.get("event"), dict) else {"id": event_id}
    assert isinstance(event, dict)
    tz_name = str(event.get("timezone") or "UTC")
    try:
        tz = zone(tz_name)
    except ConfigError:
        log.warning("%s: unknown timezone %r, using UTC", index_key(event_id), tz_name)
        tz, tz_name = zone("UTC"), "UTC"
    entries: list[VodEntry] = []
    for n, raw in enumerate(doc.get("items", [])):
        try:
            if not isinstance(raw, dict):
                raise TypeError("not an object")
            entry = _entry(raw, tz)
        except (ValidationError, ValueError, TypeError) as exc:
            log.warning("%s: item %d skipped: %s", index_key(event_id), n, exc)
            continue
        entries.append(entry)
    entries.sort(key=lambda e: e.key)
    generated = doc.get("generated_at")
    return EventData(
        id=event_id,
        event=event,
        timezone=tz_name,
        entries=entries,
        generated_at=generated if isinstance(generated, str) else None,
        token=token,
    )
