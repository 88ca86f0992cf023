"""The orchestrator's APScheduler side: the job functions its persistent job store names, and
the scheduler whose executor hands each job its owning orchestrator."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from streamer.pipeline import stages

if TYPE_CHECKING:
    from streamer.pipeline.orchestrator import Orchestrator

URL_REFRESH_JOB = "refresh-urls"
JobFn = Callable[..., Coroutine[Any, Any, None]]


# Job functions are module-level so the persistent job store can name them; the job store
# keeps only the ids. The orchestrator that owns the scheduler is passed in (as ``orch``) by
# its executor, never looked up globally, so two orchestrators in one process keep apart.
async def job_watch(event_id: str, broadcast_id: str, *, orch: Orchestrator | None = None) -> None:
    assert orch is not None, "run by an Orchestrator's scheduler"
    orch.captures.start(event_id, broadcast_id)


async def job_process(event_id: str, session_id: str, *, orch: Orchestrator | None = None) -> None:
    assert orch is not None, "run by an Orchestrator's scheduler"
    # the stage reads the broadcast's state and recording row: the capture's queued writes first
    await orch.captures.flush()
    await orch.processor.process(event_id, session_id)


async def job_reprocess(
    event_id: str, session_id: str, *, orch: Orchestrator | None = None
) -> None:
    assert orch is not None, "run by an Orchestrator's scheduler"
    await orch.processor.process(event_id, session_id, manual=True)


async def job_refresh_urls(*, orch: Orchestrator | None = None) -> None:
    assert orch is not None, "run by an Orchestrator's scheduler"
    await asyncio.to_thread(stages.refresh_urls_stage, orch.settings)


def make_scheduler(
    owner: Orchestrator, db_url: str, loop: asyncio.AbstractEventLoop
) -> AsyncIOScheduler:
    """A scheduler with its jobs in the state DB; misfired jobs run at once, one at a time."""
    return AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=db_url)},
        executors={"default": _OwnedExecutor(owner)},
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        event_loop=loop,
    )


class _OwnedExecutor(AsyncIOExecutor):  # type: ignore[misc]
    """Runs each job with its owner passed in as ``orch``."""

    def __init__(self, owner: Orchestrator) -> None:
        super().__init__()
        self._owner = owner

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        super()._do_submit_job(_Bound(job, self._owner), run_times)


class _Bound:
    """A job seen through its owner: ``func`` gets ``orch=owner``, the rest is the job's."""

    def __init__(self, job: Any, owner: Orchestrator) -> None:
        self._job = job
        self.func = functools.partial(job.func, orch=owner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)
