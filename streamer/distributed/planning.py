"""What the elected planner does differently in the distributed mode.

- :class:`QueuedCaptures`: a broadcast's watch → capture is a job on the ``capture`` queue,
  not a task of the planner; ``stop`` asks the lease holder to stop at its next renewal.
- :func:`keep_captures`: every tick, a broadcast inside its window whose capture lease nobody
  holds gets a capture job again (its worker died, was cut off, or shut down).
- :func:`recover_stalled`: a job whose worker stopped heartbeating is finished as failed; a
  session it left mid-stage is failed "interrupted" with a retry at once, as a restart does in
  the embedded mode. Sessions whose stage is running on a live worker are left alone.
- :class:`RemoteProcessor` and :class:`RawHealWatch`: the planner reads a recording's
  coverage and its last heal from the raw store, since the recording is on a worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from procrastinate import App
from procrastinate.jobs import Status

from streamer.capture.timeline import META, TIMELINE
from streamer.config import Settings
from streamer.distributed.db import connect
from streamer.distributed.raw import raw_root
from streamer.distributed.tasks import PROCESS, PUBLISH, SPLIT, defer_capture
from streamer.errors import NotFound, NotFoundError, StorageError
from streamer.files import atomic_write
from streamer.pipeline.capture_task import Captures
from streamer.pipeline.processing import Processor, covers
from streamer.pipeline.reheal import HealWatch
from streamer.pipeline.states import (
    BROADCAST_OVER,
    SESSION_IN_STAGE,
    BroadcastState,
    SessionState,
)
from streamer.pipeline.store import SessionView, Store
from streamer.publish.storage import Storage
from streamer.timeutil import now, parse_iso

log = logging.getLogger(__name__)
SESSION_TASKS = frozenset({PROCESS, SPLIT, PUBLISH})
STALLED_S = 30.0  # a worker silent this long is gone (its heartbeat is every 5 s)


class QueuedCaptures(Captures):
    """Captures as queue jobs: ``start`` defers "capture broadcast B" and returns."""

    def __init__(self, settings: Settings, store: Store, app: App, dsn: str, **kw: Any) -> None:
        super().__init__(settings, store, **kw)
        self.app = app
        self.dsn = dsn
        self._deferring: set[asyncio.Task[int | None]] = set()

    def start(self, event_id: str, broadcast_id: str, *, manual: bool = False) -> bool:
        task = asyncio.get_running_loop().create_task(
            defer_capture(self.app, event_id, broadcast_id, manual=manual)
        )
        self._deferring.add(task)  # keep a reference until it is done
        task.add_done_callback(self._deferring.discard)
        return True

    async def stop(self, event_id: str, broadcast_id: str) -> bool:
        """Ask the worker holding the lease to stop cleanly (it sees it within lease/3)."""
        async with await connect(self.dsn) as conn:
            cur = await conn.execute(
                "UPDATE streamer_capture_leases SET stop_requested = true"
                " WHERE broadcast_id = %s AND expires_at > clock_timestamp()",
                (f"{event_id}.{broadcast_id}",),
            )
            return cur.rowcount > 0

    async def close(self) -> None:
        """Nothing runs here: the captures go on on their workers."""
        self._closing = True
        if self._deferring:
            await asyncio.wait(list(self._deferring), timeout=10)


async def held_leases(dsn: str) -> set[str]:
    async with await connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT broadcast_id FROM streamer_capture_leases WHERE expires_at > clock_timestamp()"
        )
        return {str(r[0]) for r in await cur.fetchall()}


async def keep_captures(settings: Settings, store: Store, app: App, dsn: str) -> list[str]:
    """Queue a capture job for each broadcast inside its window that no worker holds; the
    keys queued (a job already waiting is not queued twice)."""
    moment = now()
    lead = timedelta(seconds=settings.watch_lead_s)
    late = timedelta(seconds=settings.late_limit_s)
    held = await held_leases(dsn)
    queued = []
    for b in store.broadcasts():
        key = f"{b.event_id}.{b.id}"
        if b.removed or b.state in BROADCAST_OVER or key in held:
            continue
        inside = b.start - lead <= moment <= b.end + late
        if not inside and b.state != BroadcastState.LIVE:
            continue
        if await defer_capture(app, b.event_id, b.id) is not None:
            log.warning("capture of %s has no worker holding it: queued again", key)
            queued.append(key)
    return queued


async def recover_stalled(
    app: App, store: Store, retry: Callable[[SessionView], None], *, stalled_s: float = STALLED_S
) -> list[int]:
    """Finish the jobs of workers that stopped heartbeating; fail the sessions they left
    mid-stage with a retry at once. The ids of the jobs finished."""
    finished = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_s):
        assert job.id is not None
        await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        finished.append(job.id)
        log.warning("job %d (%s %s): its worker stopped", job.id, job.task_name, job.task_kwargs)
        if job.task_name not in SESSION_TASKS:
            continue  # a capture: its lease expires and keep_captures queues it again
        args = job.task_kwargs
        try:
            s = store.session(str(args["event_id"]), str(args["session_id"]))
        except (KeyError, NotFoundError):
            continue
        if s.state in SESSION_IN_STAGE:
            reason = f"interrupted while {s.state} (its worker stopped)"
            s = store.set_session_state(
                s.event_id, s.id, SessionState.FAILED, reason, next_try_at=now()
            )
            retry(s)
    return finished


class RawStore:
    """Small files of raw recordings read by the planner, refreshed at most every ``every_s``."""

    def __init__(
        self,
        storage: Storage,
        prefix: str,
        cache: Path,
        *,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.prefix = prefix
        self.cache = cache
        self.every_s = every_s
        self.clock = clock
        self._read: dict[tuple[str, str], float] = {}

    def directory(self, event_id: str, broadcast_id: str) -> Path | None:
        """A local copy of the recording's timeline and metadata (no media), or None when
        nothing was shipped yet."""
        here = self.cache / event_id / broadcast_id
        key = (event_id, broadcast_id)
        last = self._read.get(key)
        if last is None or self.clock() - last >= self.every_s:
            root = raw_root(self.prefix, event_id, broadcast_id)
            try:
                for name in (META, TIMELINE):
                    try:
                        atomic_write(here / name, self.storage.get_bytes(f"{root}/{name}"))
                    except NotFound:
                        if name == TIMELINE:
                            raise
            except NotFound:
                return None
            except StorageError as exc:  # the store is away: the last copy, if any
                log.warning("raw store unreadable: %s", exc)
            self._read[key] = self.clock()
        return here if (here / TIMELINE).exists() else None


class RemoteProcessor(Processor):
    """Asks the raw store, not this machine's disk, whether a session is captured."""

    raw: RawStore

    def captured(self, s: SessionView) -> bool:
        here = self.raw.directory(s.event_id, s.broadcast_id)
        # the same end as the embedded processor's: the predicted one on a day running late;
        # the copy has the rows only (the media stay on the worker and in the raw store)
        return here is not None and covers(here, self.needed_until(s), files=False)


class RawHealWatch(HealWatch):
    """The reheal check on the raw store's ``recording.json`` (the recording is on a worker)."""

    def __init__(self, raw: RawStore) -> None:
        super().__init__()
        self.raw = raw

    def filled_for(self, store: Store, s: SessionView) -> datetime | None:
        here = self.raw.directory(s.event_id, s.broadcast_id)
        if here is None:
            return None
        try:
            heal = json.loads((here / META).read_text("utf-8")).get("heal")
            if isinstance(heal, dict) and isinstance(heal.get("filled_at"), str):
                return parse_iso(heal["filled_at"])
        except (OSError, ValueError, AttributeError):
            pass
        return None
