"""Stage functions: each a function of ``(settings, ids)`` reading and writing only the state
DB, the data dir and storage, so any process (or a queue worker) can run it."""

from __future__ import annotations

import functools
from pathlib import Path

from streamer.config import Settings
from streamer.errors import SplitError
from streamer.pipeline.store import Store
from streamer.publish import open_storage
from streamer.publish.catalog import Publisher
from streamer.split import split_session
from streamer.vod import VodRecord


@functools.cache
def _store(url: str) -> Store:
    return Store(url)


def store_for(settings: Settings) -> Store:
    return _store(settings.db_url)


def recording_dir(settings: Settings, event_id: str, broadcast_id: str) -> Path:
    return settings.recordings_dir / event_id / broadcast_id


def split_stage(settings: Settings, event_id: str, session_id: str, force: bool) -> VodRecord:
    """Cut one session's VOD from its broadcast's recording (corrections applied)."""
    store = store_for(settings)
    program = store.program(event_id)
    session = program.session(session_id)
    rec = store.recording(event_id, session.broadcast)
    if rec is None or not Path(rec.dir).exists():
        raise SplitError(f"missing: broadcast {session.broadcast!r} was never recorded")
    correction = store.correction(event_id, session_id)
    start, end = correction if correction else (None, None)
    broadcast = program.broadcast(session.broadcast)
    result = split_session(
        Path(rec.dir),
        program,
        session_id,
        settings.vods_dir,
        mode=settings.split_mode,
        start=start,
        end=end,
        pad_s=settings.pad_s,
        force=force,
        source_url=broadcast.url,
    )
    return result.record


def publish_stage(settings: Settings, event_id: str, session_id: str) -> VodRecord:
    """Upload one cut session and refresh the event's index."""
    storage = open_storage(settings)
    # presigned URLs expire: every publish hands out fresh ones
    refresh = bool(getattr(storage, "presign", False))
    return Publisher(storage, refresh_urls=refresh).publish_session(
        settings.vods_dir, event_id, session_id
    )


def unpublish_stage(settings: Settings, event_id: str, session_id: str) -> None:
    Publisher(open_storage(settings)).unpublish(event_id, session_id)
