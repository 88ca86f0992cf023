"""The catalog's listings rebuilt from what storage holds: an event's index from its VOD
records, ``events.json`` from the event indexes."""

from __future__ import annotations

import logging
from typing import Any

from streamer.errors import StorageError
from streamer.publish.catalog_json import read_index, read_json, read_record
from streamer.publish.layout import feed_key, index_event, media_key, record_session
from streamer.publish.storage import Storage
from streamer.timeutil import iso, now, parse_iso
from streamer.vod import VodRecord, dump

log = logging.getLogger(__name__)


def build_index(
    storage: Storage,
    event_id: str,
    event: dict[str, Any] | None,
    exclude: set[str] | frozenset[str],
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The event's index as stored (None when absent or damaged) and as rebuilt from the
    records in storage, less the ``exclude``d sessions."""
    try:
        previous = read_index(storage, event_id)
    except StorageError as exc:
        log.warning("rebuilding a damaged index of %s: %s", event_id, exc)
        previous = None
    if event is None:
        event = (previous or {}).get("event") or minimal_event(event_id)
    items = [dump(r) for r in stored_records(storage, event_id) if r.session_id not in exclude]
    return previous, {"event": event, "items": items, "generated_at": iso(now())}


def build_events(storage: Storage) -> dict[str, Any]:
    """``events.json`` as rebuilt from the event indexes in storage."""
    entries: list[dict[str, Any]] = []
    for key in storage.list(""):
        event_id = index_event(key)
        if event_id is None:
            continue
        try:
            index = read_json(storage, key)
        except StorageError as exc:
            log.warning("%s left out of events.json: %s", key, exc)
            continue
        if not isinstance(index, dict) or not index.get("items"):
            continue  # an event with nothing published is not listed
        event = index.get("event") or minimal_event(event_id)
        items = index["items"]
        entries.append(
            {
                "id": event_id,
                "title": event.get("title"),
                "timezone": event.get("timezone"),
                "index_url": storage.url(key),
                "feed_url": storage.url(feed_key(event_id)),
                "count": len(items),
                "updated_at": max((i.get("updated_at") or "" for i in items), default=None),
            }
        )
    entries.sort(key=lambda e: e["id"])
    return {"events": entries, "generated_at": iso(now())}


def stored_records(storage: Storage, event_id: str) -> list[VodRecord]:
    """Records under ``{event}/`` whose media exist, sorted by start."""
    records: list[VodRecord] = []
    for key in storage.list(f"{event_id}/"):
        session_id = record_session(event_id, key)
        if session_id is None:
            continue
        try:
            record = read_record(storage, event_id, session_id)
        except StorageError as exc:
            # one unreadable object must not block the event's other VODs
            log.warning("%s left out of the index: %s", key, exc)
            continue
        if record is None:
            continue  # deleted since the listing
        if storage.head(media_key(event_id, record.session_id)) is None:
            log.warning("%s: media missing, left out of the index", key)
            continue
        records.append(record)
    records.sort(key=lambda r: (parse_iso(r.start), r.session_id))
    return records


def record_sessions(storage: Storage, event_id: str) -> list[str]:
    """The sessions with a record key under ``{event}/``."""
    keys = storage.list(f"{event_id}/")
    return [s for s in (record_session(event_id, k) for k in keys) if s is not None]


def minimal_event(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "title": {"en": event_id}, "timezone": "UTC"}


def same(a: dict[str, Any], b: dict[str, Any], ignore: str) -> bool:
    return {k: v for k, v in a.items() if k != ignore} == {
        k: v for k, v in b.items() if k != ignore
    }
