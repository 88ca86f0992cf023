"""The capture job: "capture broadcast B", run by a worker of the ``capture`` queue.

The job watches and records the broadcast exactly as the embedded service does
(:meth:`Captures.run`), but under the broadcast's capture lease (:func:`capture_under_lease`):

- a second job for a broadcast whose lease is held leaves at once ("busy");
- the raw recording is shipped to ``STREAMER_RAW_STORAGE`` as it grows, and a new owner
  resumes from it (its heal refills from the source's window what the takeover cost);
- the moment the lease is lost, the capture stops and writes nothing more: no state, no
  recording row, no upload;
- a worker that shuts down (SIGTERM) stops its captures the way a restart does: the broadcast
  stays live, the lease is freed at once, and the planner hands the capture to another worker;
- once the capture is over, the sessions that started are queued for processing (the planner
  would otherwise wait for their planned time, as ``Orchestrator._after_broadcast`` does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from streamer.config import Settings
from streamer.distributed.capture import capture_under_lease
from streamer.distributed.db import settings_dsn
from streamer.distributed.leases import CaptureLeases
from streamer.distributed.raw import raw_root
from streamer.pipeline import stages
from streamer.pipeline.capture_task import Captures, recording_dir
from streamer.pipeline.session_plan import cut_after_capture
from streamer.publish import open_storage
from streamer.publish.s3 import S3Storage
from streamer.publish.s3_retry import RetryPolicy
from streamer.publish.storage import Storage
from streamer.timeutil import now
from streamer.youtube import Resolver

log = logging.getLogger(__name__)

# (event_id, session_id) -> None: queue a session's process job (a duplicate is dropped)
DeferProcess = Callable[[str, str], Awaitable[None]]


class RunningCaptures:
    """The capture jobs running in this worker process, so that a shutdown can stop them."""

    def __init__(self) -> None:
        self._running: set[Captures] = set()
        self._closes: set[asyncio.Future[None]] = set()
        self.closing = False

    def add(self, captures: Captures) -> None:
        self._running.add(captures)
        if self.closing:
            self._close(captures)

    def _close(self, captures: Captures) -> None:
        closing = asyncio.ensure_future(captures.close())
        self._closes.add(closing)  # a reference until it is done
        closing.add_done_callback(self._closes.discard)

    def discard(self, captures: Captures) -> None:
        self._running.discard(captures)

    def close_all(self) -> None:
        """Called from the worker's stop (in its loop): every capture stops as at a restart."""
        self.closing = True
        for captures in list(self._running):
            self._close(captures)


RUNNING = RunningCaptures()


def capture_storage(settings: Settings) -> Storage:
    """The raw store as a capture ships to it: an S3 upload is given up (and retried at the
    next round) well inside the lease's margin, so an upload begun under the lease cannot
    land after the lease passed on (for leases of 10 s and more; 30 s by default)."""
    assert settings.raw_storage is not None
    storage = open_storage(settings, settings.raw_storage)
    if not isinstance(storage, S3Storage):
        return storage
    ttl = settings.capture_lease_s
    bounded = RetryPolicy(
        total_s=max(0.5, ttl * 0.1),
        connect_timeout_s=max(0.5, ttl * 0.05),
        read_timeout_s=max(0.5, ttl * 0.05),
        botocore_attempts=1,
    )
    return S3Storage(
        storage.bucket,
        storage.prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        path_style=settings.s3_path_style or bool(settings.s3_endpoint_url),
        concurrency=2,
        retry=bounded,
        sign_payload=settings.s3_sign_payload,
    )


async def capture_broadcast(
    settings: Settings,
    event_id: str,
    broadcast_id: str,
    *,
    owner: str,
    defer_process: DeferProcess,
    manual: bool = False,
    running: RunningCaptures = RUNNING,
    ship_every_s: float = 2.0,
) -> str:
    """Run one capture job; returns its outcome: ``recorded``, ``lost`` or ``busy``."""
    store = stages.store_for(settings)
    key = f"{event_id}.{broadcast_id}"
    leases = CaptureLeases(settings_dsn(settings), owner, ttl_s=settings.capture_lease_s)
    rec_dir = recording_dir(settings, event_id, broadcast_id)
    storage = capture_storage(settings) if settings.raw_storage is not None else None
    ended: list[bool] = []

    async def work(stop: asyncio.Event, owned: Callable[[], bool]) -> None:
        captures = Captures(
            settings,
            store,
            Resolver(settings),
            emit=store.post,  # the planner delivers them (webhooks) from the state DB
            on_end=lambda *_: ended.append(True),
            owned=owned,
        )
        running.add(captures)
        try:
            await captures.run(event_id, broadcast_id, stop, manual=manual)
        finally:
            running.discard(captures)

    done = await capture_under_lease(
        leases,
        key,
        rec_dir,
        work,
        storage=storage,
        root=raw_root(settings.raw_prefix, event_id, broadcast_id),
        ship_every_s=ship_every_s,
    )
    log.info("capture job of %s: %s (token %s)", key, done.outcome, done.token)
    if done.outcome == "recorded" and ended:
        await _after_capture(settings, event_id, broadcast_id, defer_process)
    return done.outcome


async def _after_capture(
    settings: Settings, event_id: str, broadcast_id: str, defer_process: DeferProcess
) -> None:
    """Sessions that already started need not wait their planned time (everything the
    capture recorded is shipped by now, so any worker can cut them)."""
    store = stages.store_for(settings)
    for s, _again in cut_after_capture(store, event_id, broadcast_id, now()):
        await defer_process(event_id, s.id)
