"""A VOD record's publish fields: its URLs, and a version and ``updated_at`` that move only
when the VOD itself changed."""

from __future__ import annotations

from typing import Any

from streamer.publish.layout import media_key, thumbnail_key
from streamer.publish.storage import Storage
from streamer.vod import VodRecord, dump

# fields publish fills in; they do not count as a change of the VOD
_PUBLISH_FIELDS = {"media_url", "thumbnail_url", "published_at", "updated_at", "version"}


def next_record(
    record: VodRecord,
    existing: VodRecord | None,
    *,
    files_changed: bool,
    stamp: str,
    refresh_urls: bool,
) -> VodRecord:
    """``record`` (the local one, with this run's URLs) as it is to be stored over
    ``existing``: a new version only if its files or content changed, and the stored URLs
    unless ``refresh_urls`` or something changed."""
    if existing is None:
        record = record.model_copy(
            update={"published_at": stamp, "updated_at": stamp, "version": 1}
        )
    else:
        content_changed = content(existing) != content(record)
        changed = files_changed or content_changed
        record = record.model_copy(
            update={
                "published_at": existing.published_at or stamp,
                "updated_at": stamp if changed else existing.updated_at,
                "version": existing.version + 1 if changed else existing.version,
            }
        )
    if existing is not None and not refresh_urls and content(existing) == content(record):
        record = record.model_copy(
            update={"media_url": existing.media_url, "thumbnail_url": existing.thumbnail_url}
        )
    return record


def with_fresh_urls(
    storage: Storage, record: VodRecord, event_id: str, session_id: str
) -> VodRecord:
    """``record`` with the URLs ``storage`` gives now (presigned URLs expire)."""
    return record.model_copy(
        update={
            "media_url": storage.url(media_key(event_id, session_id)),
            "thumbnail_url": (
                storage.url(thumbnail_key(event_id, session_id))
                if record.thumbnail_url is not None
                else None
            ),
        }
    )


def content(record: VodRecord) -> dict[str, Any]:
    """The record less the fields publish fills in: what a change of the VOD is judged on."""
    return {k: v for k, v in dump(record).items() if k not in _PUBLISH_FIELDS}
