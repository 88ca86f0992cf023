"""The published catalog in memory, for the public API and the viewer.

The source of truth is storage: ``events.json`` and each event's ``{event}/index.json``, as
publish writes them. :class:`VodIndex` re-checks them at most every ``refresh_s`` seconds
with a cheap ``head`` (ETag / mtime) and re-reads only the objects that changed. Each
:class:`Snapshot` is immutable data plus small LRU caches of filtered lists and serialized
pages, so a repeated request costs a dictionary look-up.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from streamer.api.httpcache import CachedBody
from streamer.errors import ConfigError, StorageError
from streamer.publish.layout import EVENTS, index_event, index_key
from streamer.publish.storage import ObjectInfo, Storage
from streamer.timeutil import parse_iso, zone
from streamer.vod import VodRecord

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FILTER_CACHE = 256
_PAGE_CACHE = 2048

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


@dataclass
class Page:
    entries: list[VodEntry]
    next_key: SortKey | None
    cached: CachedBody


class Snapshot:
    """The catalog at one moment. Immutable data; its caches only memoise."""

    def __init__(
        self,
        events: list[EventData],
        summaries: list[dict[str, Any]],
        version: str,
        generated_at: str | None = None,
    ) -> None:
        self.events = events
        self.generated_at = generated_at
        self.version = version
        self.summaries = summaries
        self._events = {e.id: e for e in events}
        self.vods = sorted((v for e in events for v in e.entries), key=lambda v: v.key)
        self.by_id = {v.id: v for v in self.vods}
        self._keys = [v.key for v in self.vods]
        self._filtered: OrderedDict[VodFilter, tuple[list[VodEntry], list[SortKey]]] = OrderedDict()
        self._pages: OrderedDict[tuple[VodFilter, int, SortKey | None], Page] = OrderedDict()
        self._responses: OrderedDict[bytes, tuple[str, CachedBody]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, raw_key: bytes, route: str, cached: CachedBody) -> None:
        """Keep a validated request's body under its raw path+query (see ``fastpath``)."""
        with self._lock:
            self._responses[raw_key] = (route, cached)
            if len(self._responses) > _PAGE_CACHE:
                self._responses.popitem(last=False)

    def recall(self, raw_key: bytes) -> tuple[str, CachedBody] | None:
        with self._lock:
            return self._responses.get(raw_key)

    def event(self, event_id: str) -> EventData | None:
        return self._events.get(event_id)

    def get(self, vod: str) -> VodEntry | None:
        return self.by_id.get(vod)

    def filtered(self, f: VodFilter) -> tuple[list[VodEntry], list[SortKey]]:
        """The VODs matching ``f`` in stable order, with their sort keys (memoised)."""
        with self._lock:
            hit = self._filtered.get(f)
            if hit is not None:
                self._filtered.move_to_end(f)
                return hit
        if f == VodFilter():
            result = (self.vods, self._keys)
        else:
            if f.event is None:
                source = self.vods
            else:
                event = self._events.get(f.event)
                source = event.entries if event is not None else []
            items = [v for v in source if v.matches(f)]
            result = (items, [v.key for v in items])
        with self._lock:
            self._filtered[f] = result
            if len(self._filtered) > _FILTER_CACHE:
                self._filtered.popitem(last=False)
        return result

    def page(self, f: VodFilter, limit: int, after: SortKey | None) -> Page:
        """One page of ``{"items": [...], "next": cursor}``, serialized once and memoised."""
        cache_key = (f, limit, after)
        with self._lock:
            hit = self._pages.get(cache_key)
            if hit is not None:
                self._pages.move_to_end(cache_key)
                return hit
        items, keys = self.filtered(f)
        start = 0 if after is None else bisect.bisect_right(keys, after)
        chosen = items[start : start + limit]
        next_key = chosen[-1].key if chosen and start + limit < len(items) else None
        nxt = b"null" if next_key is None else dumps(encode_cursor(next_key))
        body = b'{"items":[' + b",".join(v.cached.body for v in chosen) + b'],"next":' + nxt
        page = Page(chosen, next_key, CachedBody(body + b"}"))
        with self._lock:
            self._pages[cache_key] = page
            if len(self._pages) > _PAGE_CACHE:
                self._pages.popitem(last=False)
        return page


def encode_cursor(key: SortKey) -> str:
    """An opaque, URL-safe cursor: the sort key of the last item of the page."""
    raw = f"v1|{key[0]}|{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> SortKey:
    """The sort key inside a cursor; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor from this API") from exc
    version, _, rest = raw.partition("|")
    start, _, vod = rest.partition("|")
    if version != "v1" or not vod or not start.lstrip("-").isdigit():
        raise ValueError("not a cursor from this API")
    return int(start), vod


@dataclass
class _State:
    events_token: str | None = None
    summaries: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, EventData] = field(default_factory=dict)
    generated_at: str | None = None


class VodIndex:
    """The catalog of one storage, refreshed at most every ``refresh_s`` seconds."""

    def __init__(
        self,
        storage: Storage,
        *,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.refresh_s = refresh_s
        self.last_error: str | None = None
        self._clock = clock
        self._snap: Snapshot | None = None
        self._checked = -math.inf
        self._state = _State()
        self._lock = threading.Lock()
        self._refreshing = False

    async def current(self) -> Snapshot:
        """The snapshot, refreshed first when older than ``refresh_s`` (never blocks the loop).

        While one request refreshes, concurrent ones are served the previous snapshot.
        """
        snap = self._snap
        if snap is not None and (
            self._refreshing or self._clock() - self._checked < self.refresh_s
        ):
            return snap
        self._refreshing = True
        try:
            return await run_in_threadpool(self._refresh_or_stale)
        finally:
            self._refreshing = False

    def current_sync(self) -> Snapshot:
        """As :meth:`current`, for code running in a worker thread."""
        snap = self._snap
        if snap is not None and self._clock() - self._checked < self.refresh_s:
            return snap
        return self._refresh_or_stale()

    def _refresh_or_stale(self) -> Snapshot:
        try:
            return self.refresh(force=False)
        except StorageError as exc:
            self.last_error = str(exc)
            if self._snap is None:
                raise
            log.warning("catalog refresh failed, serving the previous one: %s", exc)
            self._checked = self._clock()
            return self._snap

    def refresh(self, *, force: bool = True) -> Snapshot:
        """Re-check storage now; re-read only what changed. Raises StorageError."""
        with self._lock:
            snap = self._snap
            if not force and snap is not None and self._clock() - self._checked < self.refresh_s:
                return snap
            state, changed = self._reload(self._state)
            if snap is None or changed:
                version = hashlib.blake2b(
                    "|".join(
                        [state.events_token or "-"] + [e.token for e in state.events.values()]
                    ).encode(),
                    digest_size=8,
                ).hexdigest()
                ordered = _ordered(state.events, state.summaries)
                snap = Snapshot(
                    ordered, _summaries(ordered, state.summaries), version, state.generated_at
                )
                self._snap = snap
                self._state = state
            self._checked = self._clock()
            self.last_error = None
            return snap

    def _reload(self, old: _State) -> tuple[_State, bool]:
        storage = self.storage
        changed = False
        info = storage.head(EVENTS)
        events_token = None
        summaries, generated_at = old.summaries, old.generated_at
        if info is None:
            summaries, generated_at = [], None
            ids = _listed_events(storage.list(""))
        else:
            events_token, data = _token(storage, info)
            if events_token != old.events_token:
                raw = data if data is not None else storage.get_bytes(EVENTS)
                summaries, generated_at = _parse_events(raw)
                changed = True
            ids = [str(s["id"]) for s in summaries]
        if events_token != old.events_token:
            changed = True
        events: dict[str, EventData] = {}
        for event_id in ids:
            try:
                key = index_key(event_id)
                head = storage.head(key)
            except StorageError as exc:
                log.warning("%s/: %s", event_id, exc)
                head = None
            if head is None:
                continue
            token, data = _token(storage, head)
            previous = old.events.get(event_id)
            if previous is not None and previous.token == token:
                events[event_id] = previous
                continue
            changed = True
            try:
                events[event_id] = parse_index(
                    event_id, data if data is not None else storage.get_bytes(key), token
                )
            except StorageError as exc:
                log.warning("%s", exc)
                self.last_error = str(exc)
                if previous is not None:
                    events[event_id] = previous
        if set(events) != set(old.events):
            changed = True
        return _State(events_token, summaries, events, generated_at), changed


def _token(storage: Storage, info: ObjectInfo) -> tuple[str, bytes | None]:
    """A change token for an object; when the backend has none, its content hash."""
    if info.etag or info.sha256:
        return f"{info.etag}|{info.sha256}|{info.size}", None
    data = storage.get_bytes(info.key)
    return hashlib.blake2b(data, digest_size=16).hexdigest(), data


def _listed_events(keys: Iterable[str]) -> list[str]:
    return [e for e in map(index_event, keys) if e is not None]


def _parse_events(data: bytes) -> tuple[list[dict[str, Any]], str | None]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise StorageError(f"{EVENTS} is not JSON: {exc}") from exc
    items = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise StorageError(f"{EVENTS} has no events list")
    generated = doc.get("generated_at")
    return (
        [e for e in items if isinstance(e, dict) and isinstance(e.get("id"), str)],
        generated if isinstance(generated, str) else None,
    )


def _ordered(events: dict[str, EventData], summaries: list[dict[str, Any]]) -> list[EventData]:
    order = {str(s["id"]): n for n, s in enumerate(summaries)}
    return sorted(events.values(), key=lambda e: (order.get(e.id, len(order)), e.id))


def _summaries(events: list[EventData], listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """events.json's entries for the events that have an index, completed from the index."""
    by_id = {str(s["id"]): s for s in listed}
    out = []
    for e in events:
        s = dict(by_id.get(e.id, {}))
        s.setdefault("id", e.id)
        s.setdefault("title", e.title)
        s.setdefault("timezone", e.timezone)
        s.setdefault("index_url", None)
        s["count"] = len(e.entries)
        s.setdefault("updated_at", e.generated_at)
        out.append(s)
    return out


async def warm(index: VodIndex) -> None:
    """Load the catalog once (start-up); a failure is logged, not raised."""
    try:
        await index.current()
    except StorageError as exc:
        log.warning("catalog not loaded at start-up: %s", exc)
