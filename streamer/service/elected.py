"""``streamer run`` in the distributed mode: stand by until elected planner, then plan and
serve the API with stage work deferred to the PostgreSQL queue for ``streamer worker``s."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from streamer import metrics
from streamer.config import Settings
from streamer.distributed.app import make_app
from streamer.distributed.db import settings_dsn
from streamer.distributed.monitor import QueueCollector, snapshot
from streamer.distributed.planner import PlannerLease, lead_while_elected
from streamer.distributed.runner import ProcrastinateRunner
from streamer.distributed.schema import ensure_schema
from streamer.pipeline.orchestrator import Orchestrator
from streamer.service.serve import serve

log = logging.getLogger(__name__)


class DistributedOrchestrator(Orchestrator):
    """The orchestrator whose status also lists the workers and the queue depth."""

    def __init__(self, settings: Settings, dsn: str, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.dsn = dsn

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
            orch = DistributedOrchestrator(settings, dsn, runner=runner)
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
