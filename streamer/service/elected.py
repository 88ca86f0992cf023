"""``streamer run`` in the distributed mode: stand by until elected planner, then plan and
serve the API with stage work deferred to the PostgreSQL queue for ``streamer worker``s."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from streamer.config import Settings
from streamer.distributed.app import make_app
from streamer.distributed.db import settings_dsn
from streamer.distributed.planner import PlannerLease, lead_while_elected
from streamer.distributed.runner import ProcrastinateRunner
from streamer.distributed.schema import ensure_schema
from streamer.pipeline.orchestrator import Orchestrator
from streamer.service.serve import serve

log = logging.getLogger(__name__)


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
            orch = Orchestrator(settings, runner=runner)
            async with serve(settings, orch, port=port, host=host) as base:
                on_serving(base)
                await asyncio.Event().wait()  # until cancelled: lease lost or shutdown

        def changed(elected: bool) -> None:
            log.warning("planner: %s", "elected" if elected else "standing by")

        await lead_while_elected(PlannerLease(dsn, poll_s=poll_s), lead, on_change=changed)
