"""Stage jobs: each a procrastinate task that runs one stage function with its ids.

The worker's Settings reach a task through the job context (``additional_context``), so a job
carries ids only. Names are stable: they are stored in queued jobs. The stages record their own
outcome in the state DB; a failed session is deferred again at the ``next_try_at`` the retry
policy stored, so retries need no planner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from procrastinate import App, JobContext
from procrastinate.exceptions import AlreadyEnqueued

from streamer.config import Settings
from streamer.errors import ConfigError, NotFound
from streamer.pipeline import stages
from streamer.pipeline.capture_task import recording_dir
from streamer.pipeline.states import SessionState

log = logging.getLogger(__name__)

CAPTURE = "streamer.capture_broadcast"
PROCESS = "streamer.process_session"
SPLIT = "streamer.split_session"
PUBLISH = "streamer.publish_session"
UNPUBLISH = "streamer.unpublish_session"


def settings_of(context: JobContext) -> Settings:
    settings = context.additional_context.get("settings")
    if not isinstance(settings, Settings):
        raise ConfigError("a stage job ran outside `streamer worker` (no settings in its context)")
    return settings


def ensure_recording(settings: Settings, event_id: str, session_id: str) -> None:
    """Make the session's recording readable here: pull its window from the raw store into
    this machine's data dir (a cache) unless the capture ran on this machine."""
    if settings.raw_storage is None:
        return
    from streamer.distributed.raw import pull, raw_root
    from streamer.publish import open_storage

    store = stages.store_for(settings)
    s = store.session(event_id, session_id)
    local = recording_dir(settings, event_id, s.broadcast_id)
    rec = store.recording(event_id, s.broadcast_id)
    if rec is not None and rec.dir == str(local) and (local / "timeline.jsonl").exists():
        return  # captured on this machine (same data dir)
    start, end = store.correction(event_id, session_id) or (None, None)
    margin = timedelta(seconds=max(settings.pad_s, 0.0) + 5)  # a frame or a GOP either side
    window = ((start or s.start) - margin, (end or s.end) + margin)
    storage = open_storage(settings, settings.raw_storage)
    try:
        pull(storage, raw_root(settings.raw_prefix, event_id, s.broadcast_id), local, window=window)
    except NotFound:
        log.warning("no raw recording of %s.%s in the raw store", event_id, s.broadcast_id)


async def defer_stage(
    app: App, name: str, event_id: str, session_id: str, *, force: bool = False
) -> int | None:
    """Queue a session's stage job; None when the same one is already waiting.

    The queueing lock refuses a second waiting copy; the lock keeps two stages of one
    session from running at once on two workers."""
    kwargs: dict[str, Any] = {"event_id": event_id, "session_id": session_id}
    if force:
        kwargs["force"] = True
    task = app.configure_task(
        name,
        lock=f"session:{event_id}.{session_id}",
        queueing_lock=f"{name}:{event_id}.{session_id}",
    )
    try:
        return await task.defer_async(**kwargs)
    except AlreadyEnqueued:
        return None


async def defer_capture(
    app: App, event_id: str, broadcast_id: str, *, manual: bool = False
) -> int | None:
    """Queue "capture broadcast B"; None when one is already waiting. No ``lock``: the
    capture lease, not the queue, decides who captures (a stalled job must not block)."""
    task = app.configure_task(CAPTURE, queueing_lock=f"{CAPTURE}:{event_id}.{broadcast_id}")
    try:
        return await task.defer_async(event_id=event_id, broadcast_id=broadcast_id, manual=manual)
    except AlreadyEnqueued:
        return None


async def capture_broadcast(
    context: JobContext, event_id: str, broadcast_id: str, manual: bool = False
) -> str:
    from streamer.distributed.capture_job import capture_broadcast as run
    from streamer.distributed.workers import worker_name

    async def process(eid: str, sid: str) -> None:
        await defer_stage(context.app, PROCESS, eid, sid)

    # one owner per job: two jobs of one broadcast on one worker must not share a lease
    owner = f"{worker_name()}/job{context.job.id}"
    return await run(
        settings_of(context), event_id, broadcast_id, owner=owner, defer_process=process,
        manual=manual,
    )  # fmt: skip


async def _retry_later(context: JobContext, settings: Settings, event_id: str, sid: str) -> None:
    s = stages.store_for(settings).session(event_id, sid)
    if s.state != SessionState.FAILED or s.next_try_at is None:
        return
    with contextlib.suppress(AlreadyEnqueued):
        await context.app.configure_task(
            PROCESS, schedule_at=s.next_try_at, queueing_lock=f"retry:{s.key}"
        ).defer_async(event_id=event_id, session_id=sid)


async def process_session(
    context: JobContext, event_id: str, session_id: str, force: bool = False
) -> None:
    settings = settings_of(context)
    s = stages.store_for(settings).session(event_id, session_id)
    if s.state == SessionState.PUBLISHED and not force:
        # planned twice (the planner at its end, the capture job at the broadcast's end) and
        # the first already published: the second is no second publish
        log.info("%s is published already: nothing to do", s.key)
        return
    await asyncio.to_thread(ensure_recording, settings, event_id, session_id)
    await asyncio.to_thread(stages.process_stage, settings, event_id, session_id, force)
    await _retry_later(context, settings, event_id, session_id)


async def split_session(
    context: JobContext, event_id: str, session_id: str, force: bool = False
) -> None:
    settings = settings_of(context)
    await asyncio.to_thread(ensure_recording, settings, event_id, session_id)
    await asyncio.to_thread(stages.split_stage, settings, event_id, session_id, force)


def publish_session(context: JobContext, event_id: str, session_id: str) -> None:
    stages.publish_stage(settings_of(context), event_id, session_id)


def unpublish_session(context: JobContext, event_id: str, session_id: str) -> None:
    stages.unpublish_stage(settings_of(context), event_id, session_id)


# stage function → task name, for the runner
STAGE_TASKS: dict[Any, str] = {
    stages.process_stage: PROCESS,
    stages.split_stage: SPLIT,
    stages.publish_stage: PUBLISH,
    stages.unpublish_stage: UNPUBLISH,
}


def register(app: App) -> None:
    """Register every stage task on ``app`` (each App gets its own task objects)."""
    specs: list[tuple[Any, str, str]] = [
        (capture_broadcast, CAPTURE, "capture"),
        (process_session, PROCESS, "split"),
        (split_session, SPLIT, "split"),
        (publish_session, PUBLISH, "publish"),
        (unpublish_session, UNPUBLISH, "publish"),
    ]
    for fn, name, queue in specs:
        app.task(name=name, queue=queue, pass_context=True)(fn)
