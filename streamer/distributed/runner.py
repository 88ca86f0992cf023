"""The procrastinate runner behind the runner seam (``STREAMER_RUNNER=procrastinate``).

``run`` defers the stage as a job with its ids and returns at once: the stage records its own
outcome in the state DB, wherever a worker runs it. Two locks keep the queue sane:

- ``queueing_lock`` (one waiting job per stage and session): planning twice queues once;
- ``lock`` (one running job per session): split and publish of a session never overlap.

Unpublishing stays in this process: the media team waits for its answer (and its errors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from procrastinate import App

from streamer.distributed.tasks import STAGE_TASKS, UNPUBLISH, defer_stage
from streamer.pipeline.runner import InProcessRunner

T = TypeVar("T")


class ProcrastinateRunner:
    def __init__(self, app: App) -> None:
        self.app = app
        self._local = InProcessRunner(max_parallel=2)
        self.deferred: list[int] = []  # job ids, newest last (for status and tests)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        name = STAGE_TASKS.get(fn)
        if name is None or name == UNPUBLISH:
            return await self._local.run(fn, *args)
        _settings, event_id, session_id, *rest = args
        force = bool(rest[0]) if rest else False
        job = await defer_stage(self.app, name, event_id, session_id, force=force)
        if job is not None:  # None: the same stage is already waiting
            self.deferred.append(job)
        return cast(T, None)  # fire and forget: the outcome is in the state DB
