"""The catalog: VOD records, per-event indexes, ``events.json`` and feeds in a Storage.

The publish order is what keeps readers safe (DESIGN §2.4): media → verify → per-VOD JSON →
``{event}/index.json`` → ``events.json`` → ``{event}/feed.xml``. The index is rebuilt from the
per-VOD JSON objects present in storage, and those are written only after their media are
verified, so the index never names an object that is not there. Unpublishing runs the other
way: the record goes first, then the index is rebuilt, then the media are deleted.

Every write is skipped when the object already holds the same content, so re-publishing an
unchanged VOD uploads nothing. The steps are here; what they build is in ``indexes.py``,
``publish_fields.py``, ``media.py`` and ``feed.py``, and reading it back in ``catalog_json.py``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamer.errors import NotFound, NotFoundError, StorageError
from streamer.publish.catalog_json import (
    JSON,
    encode_json,
    read_events,
    read_index,
    read_json,
    read_record,
)
from streamer.publish.feed import build_feed
from streamer.publish.indexes import build_events, build_index, record_sessions, same
from streamer.publish.layout import (
    CACHE_FEED,
    CACHE_INDEX,
    CACHE_RECORD,
    EVENTS,
    INDEX,
    cache_control_for,
    feed_key,
    index_event,
    index_key,
    media_key,
    record_key,
    thumbnail_key,
)
from streamer.publish.media import Progress, already_stored, upload_media
from streamer.publish.publish_fields import next_record, with_fresh_urls
from streamer.publish.source import load_local
from streamer.publish.storage import Storage, url_lifetime
from streamer.timeutil import iso, now
from streamer.vod import VodRecord, dump, vod_id
from streamer.vod.folder import find_sessions, read_event

# the key names and readers are re-exported for callers that know them from here
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
        previous, index = build_index(self.storage, event_id, event, exclude)
        if previous is not None and same(previous, index, "generated_at"):
            self._skip(index_key(event_id))
            return previous
        self._put_bytes(index_key(event_id), encode_json(index), JSON, CACHE_INDEX)
        return index

    def rebuild_events(self) -> dict[str, Any]:
        """Rebuild the root ``events.json`` from the event indexes in storage."""
        doc = build_events(self.storage)
        try:
            previous = read_json(self.storage, EVENTS)
        except StorageError:
            previous = None  # damaged: rebuilt below anyway
        if isinstance(previous, dict) and same(previous, doc, "generated_at"):
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

        record = local.record.model_copy(
            update={
                "media_url": self.storage.url(mkey),
                "thumbnail_url": self.storage.url(tkey) if local.thumb is not None else None,
            }
        )
        record = next_record(
            record,
            existing,
            files_changed=media_changed or thumb_changed,
            stamp=iso(now()),
            refresh_urls=self.refresh_urls,
        )
        rkey = record_key(event_id, session_id)
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
                for session_id in record_sessions(self.storage, event_id):
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
            fresh = with_fresh_urls(self.storage, record, event_id, session_id)
            key = record_key(event_id, session_id)
            if dump(fresh) == dump(record):
                self._skip(key)
            else:
                self._put_bytes(key, encode_json(dump(fresh)), JSON, CACHE_RECORD)

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
        if already_stored(self.storage, key, sha, size, known):
            self._skip(key)
            return False
        if self.dry_run:
            self.report.uploaded.append(key)
            self.report.bytes_uploaded += size
            return True
        stored = upload_media(self.storage, key, path, sha, stat, content_type, self.on_progress)
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


def url_refresh_interval_s(storage: Storage) -> float | None:
    """How often the catalog's URLs must be renewed: every third of their lifetime, so a URL
    in the catalog always has two thirds of it left; None when they never expire."""
    lifetime = url_lifetime(storage)
    return None if lifetime is None else max(1.0, lifetime / 3)
