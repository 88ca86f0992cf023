"""CLI command: worker (runs queued stage jobs in the distributed mode)."""

from __future__ import annotations

import asyncio

import typer

from streamer.config import Settings
from streamer.logs import setup as setup_logging


def worker(
    queues: str = typer.Option(
        "",
        "--queues",
        "-q",
        help="Comma-separated queues to take jobs from (capture, split, publish); all by default.",
    ),
    concurrency: int = typer.Option(
        2, "--concurrency", "-c", min=1, max=256, help="Jobs this worker runs at once."
    ),
) -> None:
    """Run stage jobs from the PostgreSQL queue (STREAMER_RUNNER=procrastinate).

    Start one per machine, as many machines as needed; SIGTERM finishes running jobs, then exits.
    """
    from streamer.distributed.app import QUEUES, make_app
    from streamer.distributed.db import settings_dsn
    from streamer.distributed.schema import ensure_schema
    from streamer.distributed.workers import run_worker
    from streamer.errors import ConfigError

    settings = Settings()
    setup_logging(settings.log_level)
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(QUEUES))
    if unknown:
        raise ConfigError(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}")
    dsn = settings_dsn(settings)
    app = make_app(settings, pool_max=concurrency + 3)

    async def main() -> None:
        await ensure_schema(dsn)
        async with app.open_async():
            await run_worker(app, settings, dsn, queues=wanted or None, concurrency=concurrency)

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.command()(worker)
