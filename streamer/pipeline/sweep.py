"""What a crash leaves behind, swept: split work dirs, publish temp files and S3 multipart
uploads. At start everything stale goes; before a stage, that session's own leftovers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from streamer.config import Settings
from streamer.publish import open_storage
from streamer.publish.layout import media_key, record_key, thumbnail_key
from streamer.publish.storage import Storage, Sweeper
from streamer.split import sweep_split_temps

log = logging.getLogger(__name__)


def sweep_split_work(settings: Settings) -> None:
    """Every split work dir (run before any split starts)."""
    if not settings.vods_dir.is_dir():
        return
    for event_dir in settings.vods_dir.iterdir():
        for gone in sweep_split_temps(event_dir):
            log.info("removed the split work dir %s left by a crash", gone)


def sweep_storage(settings: Settings, at: datetime) -> list[str]:
    """Uploads begun more than the retry budget before ``at``: no live upload is that old.
    Raises StorageError when the store cannot be reached."""
    storage = open_storage(settings)
    if not isinstance(storage, Sweeper):
        return []
    gone = storage.sweep_stale("", at - timedelta(seconds=settings.s3_retry_total_s))
    for key in gone:
        log.info("removed an upload to %s left by a crash", key)
    return gone


def sweep_session_uploads(storage: Storage, event_id: str, session_id: str, at: datetime) -> None:
    """This session's leftovers, whatever their age: only its own publish writes its keys."""
    if isinstance(storage, Sweeper):
        for key in (
            media_key(event_id, session_id),
            thumbnail_key(event_id, session_id),
            record_key(event_id, session_id),
        ):
            storage.sweep_stale(key, at)
