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
from typing import Any

from starlette.concurrency import run_in_threadpool

from streamer.api.httpcache import CachedBody
from streamer.api.vodentries import (
    EventData,
    SortKey,
    VodEntry,
    VodFilter,
    dumps,
    parse_index,
)
from streamer.errors import StorageError
from streamer.publish.layout import EVENTS, index_event, index_key
from streamer.publish.storage import ObjectInfo, Storage

# the entries live in vodentries.py; routes know them from here
__all__ = [
    "EventData",
    "Snapshot",
    "SortKey",
    "VodEntry",
    "VodFilter",
    "VodIndex",
    "decode_cursor",
    "dumps",
    "encode_cursor",
    "parse_index",
    "warm",
]

log = logging.getLogger(__name__)

_FILTER_CACHE = 256
_PAGE_CACHE = 2048


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

    @property
    def stale(self) -> bool:
        """True while the last refresh failed and the previous catalog is being served."""
        return self.last_error is not None and self._snap is not None

    def _refresh_or_stale(self) -> Snapshot:
        try:
            return self.refresh(force=False)
        except Exception as exc:  # any storage backend bug too: never a bare 500
            if isinstance(exc, StorageError):
                error = exc
            else:
                log.exception("catalog refresh failed unexpectedly")
                error = StorageError(f"the catalog could not be read ({type(exc).__name__})")
            self.last_error = str(error)
            if self._snap is None:
                raise error from exc
            log.warning("catalog refresh failed, serving the previous one: %s", error)
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
