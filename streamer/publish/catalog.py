"""The catalog: VOD records, per-event indexes, ``events.json`` and feeds in a Storage.

The publish order is what keeps readers safe (DESIGN §2.4): media → verify → per-VOD JSON →
``{event}/index.json`` → ``events.json`` → ``{event}/feed.xml``. The index is rebuilt from the
per-VOD JSON objects present in storage, and those are written only after their media are
verified, so the index never names an object that is not there. Unpublishing runs the other
way: the record goes first, then the index is rebuilt, then the media are deleted.

Every write is skipped when the object already holds the same content, so re-publishing an
unchanged VOD uploads nothing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streamer.errors import NotFound, NotFoundError, StorageError
from streamer.publish.feed import build_feed
from streamer.publish.layout import (
    CACHE_FEED,
    CACHE_INDEX,
    CACHE_MEDIA,
    CACHE_RECORD,
    EVENTS,
    INDEX,
    cache_control_for,
    feed_key,
    index_event,
    index_key,
    media_key,
    record_key,
    record_session,
    thumbnail_key,
)
from streamer.publish.source import file_stat, load_local
from streamer.publish.storage import Storage, url_lifetime
from streamer.timeutil import iso, now, parse_iso
from streamer.vod import VodRecord, dump, vod_id
from streamer.vod.folder import find_sessions, read_event

# the key names are re-exported for callers that know them from here
__all__ = [
    "EVENTS",
    "INDEX",
    "Publisher",
    "Report",
    "cache_control_for",
    "feed_key",
    "find_sessions",
    "index_key",
    "media_key",
    "read_events",
    "read_index",
    "read_record",
    "record_key",
    "thumbnail_key",
    "url_refresh_interval_s",
]

log = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"

# fields publish fills in; they do not count as a change of the VOD
_PUBLISH_FIELDS = {"media_url", "thumbnail_url", "published_at", "updated_at", "version"}

Progress = Callable[[str, int, int], None]


def encode_json(value: Any) -> bytes:
    """UTF-8 JSON, Korean as is (not \\u escapes), stable key order for byte comparison."""
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")


def read_json(storage: Storage, key: str) -> Any | None:
    """The JSON object at ``key``, or None if absent; StorageError if it is not JSON."""
    try:
        data = storage.get_bytes(key)
    except NotFound:
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StorageError(f"{key} is not valid JSON: {exc}") from exc


def read_index(storage: Storage, event_id: str) -> dict[str, Any] | None:
    """``{event}/index.json`` as a dict, or None when the event has none."""
    value = read_json(storage, index_key(event_id))
    return value if isinstance(value, dict) else None


def read_events(storage: Storage) -> dict[str, Any]:
    """``events.json`` as a dict; an empty list of events when there is none yet."""
    value = read_json(storage, EVENTS)
    return value if isinstance(value, dict) else {"events": [], "generated_at": None}


def read_record(storage: Storage, event_id: str, session_id: str) -> VodRecord | None:
    value = read_json(storage, record_key(event_id, session_id))
    if value is None:
        return None
    try:
        return VodRecord.model_validate(value)
    except ValidationError as exc:
        raise StorageError(f"{record_key(event_id, session_id)}: bad record: {exc}") from exc


_INDEX_LOCK = threading.RLock()
# a record is read and rewritten by publish and by the URL refresh: one at a time per process
_RECORD_LOCK = threading.Lock()


@dataclass
class Report:
    """What a publish run did (or, dry, would do): keys written and keys left as they were."""

    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bytes_uploaded: int = 0


class Publisher:
    """Publishes split output into ``storage``. ``on_progress(key, done, total)`` in bytes."""

    def __init__(
        self,
        storage: Storage,
        *,
        on_progress: Progress | None = None,
        dry_run: bool = False,
        refresh_urls: bool = False,
    ) -> None:
        self.storage = storage
        self.on_progress = on_progress
        self.dry_run = dry_run
        # rewrite records whose URLs changed though nothing else did (presigned URLs expire)
        self.refresh_urls = refresh_urls
        self.report = Report()

    # -- publish -------------------------------------------------------------------------------

    def publish_session(self, vod_dir: Path, event_id: str, session_id: str) -> VodRecord:
        """Publish one session of ``{vod_dir}/{event_id}/``, then its event's index and feed."""
        event = read_event(vod_dir, event_id)
        record = self._publish_one(vod_dir, event_id, session_id)
        self._finish_event(event_id, event)
        return record

    def publish_dir(self, vod_dir: Path) -> list[VodRecord]:
        """Publish every session found under ``vod_dir`` (``{event}/{session}.mp4`` + ``.json``).

        Each event's index is rebuilt once, after all its sessions are stored."""
        records: list[VodRecord] = []
        for event_id, session_ids in find_sessions(vod_dir).items():
            event = read_event(vod_dir, event_id)
            for session_id in session_ids:
                records.append(self._publish_one(vod_dir, event_id, session_id))
            self._finish_event(event_id, event)
        return records

    def unpublish(self, event_id: str, session_id: str) -> None:
        """Remove a VOD: its index entry (and feed item) first, then its record and media.

        Running it again after a failure finishes the job: it goes by the objects left."""
        keys = [
            record_key(event_id, session_id),
            media_key(event_id, session_id),
            thumbnail_key(event_id, session_id),
        ]
        present = [k for k in keys if self.storage.head(k) is not None]
        if not present:
            raise NotFoundError(f"no published VOD {vod_id(event_id, session_id)}")
        self._finish_event(event_id, None, exclude={session_id})
        for key in keys:
            if key in present:
                self._delete(key)

    def rebuild_index(
        self,
        event_id: str,
        event: dict[str, Any] | None = None,
        *,
        exclude: set[str] | frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """Rebuild ``{event}/index.json`` from the records in storage (less ``exclude``d
        sessions); returns the index."""
        try:
            previous = read_index(self.storage, event_id)
        except StorageError as exc:
            log.warning("rebuilding a damaged index of %s: %s", event_id, exc)
            previous = None
        if event is None:
            event = (previous or {}).get("event") or _minimal_event(event_id)
        items = [dump(r) for r in self._stored_records(event_id) if r.session_id not in exclude]
        index = {"event": event, "items": items, "generated_at": iso(now())}
        if previous is not None and _same(previous, index, "generated_at"):
            self._skip(index_key(event_id))
            return previous
        self._put_bytes(index_key(event_id), encode_json(index), JSON, CACHE_INDEX)
        return index

    def rebuild_events(self) -> dict[str, Any]:
        """Rebuild the root ``events.json`` from the event indexes in storage."""
        entries: list[dict[str, Any]] = []
        for key in self.storage.list(""):
            event_id = index_event(key)
            if event_id is None:
                continue
            try:
                index = read_json(self.storage, key)
            except StorageError as exc:
                log.warning("%s left out of events.json: %s", key, exc)
                continue
            if not isinstance(index, dict) or not index.get("items"):
                continue  # an event with nothing published is not listed
            event = index.get("event") or _minimal_event(event_id)
            items = index["items"]
            entries.append(
                {
                    "id": event_id,
                    "title": event.get("title"),
                    "timezone": event.get("timezone"),
                    "index_url": self.storage.url(key),
                    "feed_url": self.storage.url(feed_key(event_id)),
                    "count": len(items),
                    "updated_at": max((i.get("updated_at") or "" for i in items), default=None),
                }
            )
        entries.sort(key=lambda e: e["id"])
        doc = {"events": entries, "generated_at": iso(now())}
        try:
            previous = read_json(self.storage, EVENTS)
        except StorageError:
            previous = None  # damaged: rebuilt below anyway
        if isinstance(previous, dict) and _same(previous, doc, "generated_at"):
            self._skip(EVENTS)
            return previous
        self._put_bytes(EVENTS, encode_json(doc), JSON, CACHE_INDEX)
        return doc

    # -- steps ---------------------------------------------------------------------------------

    def _publish_one(self, vod_dir: Path, event_id: str, session_id: str) -> VodRecord:
        local = load_local(vod_dir, event_id, session_id)
        existing = read_record(self.storage, event_id, session_id)
        mkey, tkey = media_key(event_id, session_id), thumbnail_key(event_id, session_id)

        media_changed = self._ensure_file(
            mkey, local.media, local.media_sha, local.media_stat, "video/mp4", existing, "sha256"
        )
        thumb_changed = False
        if local.thumb is not None and local.thumb_sha is not None:
            thumb_changed = self._ensure_file(
                tkey,
                local.thumb,
                local.thumb_sha,
                local.thumb_stat,
                "image/jpeg",
                existing,
                "thumbnail_sha256",
            )

        stamp = iso(now())
        record = local.record.model_copy(
            update={
                "media_url": self.storage.url(mkey),
                "thumbnail_url": self.storage.url(tkey) if local.thumb is not None else None,
            }
        )
        if existing is None:
            record = record.model_copy(
                update={"published_at": stamp, "updated_at": stamp, "version": 1}
            )
        else:
            content_changed = _content(existing) != _content(record)
            changed = media_changed or thumb_changed or content_changed
            record = record.model_copy(
                update={
                    "published_at": existing.published_at or stamp,
                    "updated_at": stamp if changed else existing.updated_at,
                    "version": existing.version + 1 if changed else existing.version,
                }
            )
        rkey = record_key(event_id, session_id)
        if (
            existing is not None
            and not self.refresh_urls
            and _content(existing) == _content(record)
        ):
            record = record.model_copy(
                update={"media_url": existing.media_url, "thumbnail_url": existing.thumbnail_url}
            )
        with _RECORD_LOCK:
            if existing is not None and dump(existing) == dump(record):
                self._skip(rkey)
            else:
                # only now, with the media verified in place, may the record appear
                self._put_bytes(rkey, encode_json(dump(record)), JSON, CACHE_RECORD)
        return record

    # -- URL refresh ---------------------------------------------------------------------------

    def refresh_all_urls(self) -> list[str]:
        """Give every published record, index, feed and ``events.json`` fresh URLs (presigned
        URLs expire). Each object is replaced whole, and only when its URLs changed; the
        version and ``updated_at`` of a VOD stay. Returns the events refreshed."""
        event_ids = sorted({e for e in map(index_event, self.storage.list("")) if e})
        with _INDEX_LOCK:
            for event_id in event_ids:
                for session_id in self._record_sessions(event_id):
                    self._refresh_record(event_id, session_id)
                index = self.rebuild_index(event_id)
                self._write_feed(event_id, index)
            self.rebuild_events()
        return event_ids

    def _refresh_record(self, event_id: str, session_id: str) -> None:
        with _RECORD_LOCK:  # a publish must not write between this read and write
            record = read_record(self.storage, event_id, session_id)
            if record is None:
                return
            fresh = record.model_copy(
                update={
                    "media_url": self.storage.url(media_key(event_id, session_id)),
                    "thumbnail_url": (
                        self.storage.url(thumbnail_key(event_id, session_id))
                        if record.thumbnail_url is not None
                        else None
                    ),
                }
            )
            key = record_key(event_id, session_id)
            if dump(fresh) == dump(record):
                self._skip(key)
            else:
                self._put_bytes(key, encode_json(dump(fresh)), JSON, CACHE_RECORD)

    def _record_sessions(self, event_id: str) -> list[str]:
        keys = self.storage.list(f"{event_id}/")
        return [s for s in (record_session(event_id, k) for k in keys) if s is not None]

    def _ensure_file(
        self,
        key: str,
        path: Path,
        sha: str,
        stat: tuple[int, int],
        content_type: str,
        existing: VodRecord | None,
        existing_sha: str,
    ) -> bool:
        """Upload ``path`` to ``key`` unless the store already holds it; True if uploaded.

        ``stat`` is (size, mtime_ns) from when ``sha`` was computed."""
        size = stat[0]
        known = getattr(existing, existing_sha, None) if existing is not None else None
        info = self.storage.head(key)
        if (
            info is not None
            and info.size == size
            and (info.sha256 == sha or (info.sha256 is None and known == sha))
        ):
            self._skip(key)
            return False
        if self.dry_run:
            self.report.uploaded.append(key)
            self.report.bytes_uploaded += size
            return True

        def progress(done: int) -> None:
            if self.on_progress is not None:
                self.on_progress(key, done, size)

        progress(0)
        stored = self.storage.put_file(
            key,
            path,
            content_type=content_type,
            cache_control=CACHE_MEDIA,
            sha256=sha,
            progress=progress,
        )
        if file_stat(path) != stat:
            # sha was computed before; bytes that went up may not be the bytes hashed
            raise StorageError(f"{path} changed while publishing; publish again")
        # the backend verifies; a second look here guards against a backend that does not
        check = self.storage.head(key)
        if check is None or check.size != size or check.sha256 not in (None, sha):
            raise StorageError(f"{key}: verification failed after upload ({check})")
        progress(size)
        self.report.uploaded.append(key)
        self.report.bytes_uploaded += stored.size
        return True

    def _finish_event(
        self,
        event_id: str,
        event: dict[str, Any] | None,
        exclude: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        # Two publishes in one process must not interleave list → write, or the later
        # writer drops the other's record from the index. (Across processes, the next
        # publish of the event repairs the index, since it is rebuilt from the records.)
        with _INDEX_LOCK:
            index = self.rebuild_index(event_id, event, exclude=exclude)
            self.rebuild_events()
            self._write_feed(event_id, index)

    def _write_feed(self, event_id: str, index: dict[str, Any]) -> None:
        key = feed_key(event_id)
        data = build_feed(index, self.storage.url(index_key(event_id)))
        try:
            old = self.storage.get_bytes(key)
        except NotFound:
            old = None
        if old == data:
            self._skip(key)
            return
        self._put_bytes(key, data, "application/rss+xml; charset=utf-8", CACHE_FEED)

    def _stored_records(self, event_id: str) -> list[VodRecord]:
        """Records under ``{event}/`` whose media exist, sorted by start."""
        records: list[VodRecord] = []
        for key in self.storage.list(f"{event_id}/"):
            session_id = record_session(event_id, key)
            if session_id is None:
                continue
            try:
                record = read_record(self.storage, event_id, session_id)
            except StorageError as exc:
                # one unreadable object must not block the event's other VODs
                log.warning("%s left out of the index: %s", key, exc)
                continue
            if record is None:
                continue  # deleted since the listing
            if self.storage.head(media_key(event_id, record.session_id)) is None:
                log.warning("%s: media missing, left out of the index", key)
                continue
            records.append(record)
        records.sort(key=lambda r: (parse_iso(r.start), r.session_id))
        return records

    def _put_bytes(self, key: str, data: bytes, content_type: str, cache: str) -> None:
        self.report.uploaded.append(key)
        self.report.bytes_uploaded += len(data)
        if not self.dry_run:
            self.storage.put_bytes(key, data, content_type=content_type, cache_control=cache)

    def _delete(self, key: str) -> None:
        self.report.deleted.append(key)
        if not self.dry_run:
            self.storage.delete(key)

    def _skip(self, key: str) -> None:
        self.report.skipped.append(key)


# -- helpers -----------------------------------------------------------------------------------


def url_refresh_interval_s(storage: Storage) -> float | None:
    """How often the catalog's URLs must be renewed: every third of their lifetime, so a URL
    in the catalog always has two thirds of it left; None when they never expire."""
    lifetime = url_lifetime(storage)
    return None if lifetime is None else max(1.0, lifetime / 3)


def _minimal_event(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "title": {"en": event_id}, "timezone": "UTC"}


def _content(record: VodRecord) -> dict[str, Any]:
    return {k: v for k, v in dump(record).items() if k not in _PUBLISH_FIELDS}


def _same(a: dict[str, Any], b: dict[str, Any], ignore: str) -> bool:
    return {k: v for k, v in a.items() if k != ignore} == {
        k: v for k, v in b.items() if k != ignore
    }
