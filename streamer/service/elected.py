"""``streamer run`` in the distributed mode: stand by until elected planner, then plan and
serve the API with stage work deferred to the PostgreSQL queue for ``streamer worker``s."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from procrastinate import App

from streamer import metrics
from streamer.config import Settings
from streamer.distributed.app import make_app
from streamer.distributed.db import settings_dsn
from streamer.distributed.monitor import QueueCollector, snapshot
from streamer.distributed.planner import PlannerLease, lead_while_elected
from streamer.distributed.planning import (
    QueuedCaptures,
    RawHealWatch,
    RawStore,
    RemoteProcessor,
    keep_captures,
    recover_stalled,
)
from streamer.distributed.runner import ProcrastinateRunner
from streamer.distributed.schema import ensure_schema
from streamer.pipeline.orchestrator import Orchestrator
from streamer.publish import open_storage
from streamer.service.serve import serve

log = logging.getLogger(__name__)


class DistributedOrchestrator(Orchestrator):
    """The planner of the distributed mode: captures are queue jobs, recordings are read from
    the raw store, and status also lists the workers and the queue depth.

    A planner that takes over never fails the stages in flight (they run on workers); only a
    job whose worker stopped heartbeating is finished, and its session retried."""

    def __init__(self, settings: Settings, dsn: str, *, app: App, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.dsn = dsn
        self.app = app
        self.captures = QueuedCaptures(
            settings,
            self.store,
            app,
            dsn,
            resolver=self.captures.resolver,
            emit=self._emit,
            on_end=self._after_broadcast,
        )
        if settings.raw_storage is not None:
            raw = RawStore(
                open_storage(settings, settings.raw_storage),
                settings.raw_prefix,
                settings.data_dir / "raw-cache",
            )
            processor = RemoteProcessor(settings, self.store, self.runner, self.processor.hooks)
            processor.raw = raw
            self.processor = processor
            self.heals = RawHealWatch(raw)
        self._upkeep: asyncio.Task[None] | None = None

    def _recover_interrupted(self) -> None:
        """Nothing to fail at a takeover: stages in flight run on workers (see _keep_up)."""

    def _tick(self) -> None:
        super()._tick()
        if self._upkeep is None or self._upkeep.done():
            self._upkeep = asyncio.get_running_loop().create_task(self._keep_up())

    async def _keep_up(self) -> None:
        try:
            await recover_stalled(self.app, self.store, self._plan_retry)
            await keep_captures(self.settings, self.store, self.app, self.dsn)
        except (psycopg.Error, OSError) as exc:  # the database is away: next tick
            log.warning("distributed upkeep failed: %s", exc)

    def status(self) -> dict[str, Any]:
        data = super().status()
        try:
            data.update(snapshot(self.dsn))
        except psycopg.Error as exc:  # status must answer while PostgreSQL is away
            data.update({"workers": [], "queues": {}, "queue_error": str(exc)})
        return data


async def run_elected(
    settings: Settings,
    *,
    port: int,
    host: str | None,
    on_serving: Callable[[str], None] = lambda base: None,
    poll_s: float = 1.0,
) -> None:
    """Runs until cancelled; plans (and serves) only while this process holds the lease."""
    dsn = settings_dsn(settings)
    await ensure_schema(dsn)
    app = make_app(settings)
    async with app.open_async():
        runner = ProcrastinateRunner(app)

        async def lead() -> None:
            orch = DistributedOrchestrator(settings, dsn, app=app, runner=runner)
            collector = QueueCollector(dsn)
            metrics.REGISTRY.register(collector)
            try:
                async with serve(settings, orch, port=port, host=host) as base:
                    on_serving(base)
                    await asyncio.Event().wait()  # until cancelled: lease lost or shutdown
            finally:
                metrics.REGISTRY.unregister(collector)

        def changed(elected: bool) -> None:
            log.warning("planner: %s", "elected" if elected else "standing by")

        await lead_while_elected(PlannerLease(dsn, poll_s=poll_s), lead, on_change=changed)
