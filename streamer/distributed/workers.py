"""Running a worker, and the registry that ``status`` reads: host, queues, running jobs and
last heartbeat of every worker (procrastinate's own table has only an id and a heartbeat)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from procrastinate import App
from procrastinate.worker import Worker

from streamer.config import Settings
from streamer.distributed.db import connect

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: datetime
    heartbeat_at: datetime
    running: list[dict[str, Any]]  # {"id", "task", "queue", "args"}


class StreamerWorker(Worker):
    """procrastinate's worker, whose stop (SIGTERM/SIGINT) also stops its capture jobs the
    way a restart does: the lease is freed at once and another worker resumes the capture."""

    def stop(self) -> None:
        from streamer.distributed.capture_job import RUNNING

        RUNNING.close_all()
        super().stop()  # type: ignore[no-untyped-call]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def _beat(
    dsn: str, name: str, queues: Sequence[str], concurrency: int, wid: int | None
) -> None:
    async with await connect(dsn) as conn:
        await conn.execute(
            "INSERT INTO streamer_workers AS w (name, host, pid, queues, concurrency, started_at,"
            " heartbeat_at, procrastinate_worker_id)"
            " VALUES (%s, %s, %s, %s, %s, now(), now(), %s)"
            " ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(),"
            " procrastinate_worker_id = excluded.procrastinate_worker_id",
            (name, socket.gethostname(), os.getpid(), list(queues), concurrency, wid),
        )


async def heartbeat_loop(
    dsn: str,
    name: str,
    queues: Sequence[str],
    concurrency: int,
    worker: Worker,
    *,
    every_s: float = HEARTBEAT_S,
    sleep: Sleep = asyncio.sleep,
) -> None:
    while True:
        try:
            await _beat(dsn, name, queues, concurrency, worker.worker_id)
        except psycopg.Error as exc:
            log.warning("worker heartbeat failed: %s", exc)
        await sleep(every_s)


async def unregister(dsn: str, name: str) -> None:
    with contextlib.suppress(psycopg.Error, OSError):
        async with await connect(dsn) as conn:
            await conn.execute("DELETE FROM streamer_workers WHERE name = %s", (name,))


async def run_worker(
    app: App,
    settings: Settings,
    dsn: str,
    *,
    queues: Sequence[str] | None,
    concurrency: int,
    name: str | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Run stage jobs until SIGTERM/SIGINT (procrastinate finishes the running ones first)."""
    name = name or worker_name()
    listened = list(queues) if queues else ["*"]
    worker = StreamerWorker(
        app=app,
        queues=list(queues) if queues else None,
        concurrency=concurrency,
        name=name,
        additional_context={"settings": settings},
        install_signal_handlers=install_signal_handlers,
        update_heartbeat_interval=HEARTBEAT_S,
        stalled_worker_timeout=6 * HEARTBEAT_S,
    )
    beat = asyncio.ensure_future(heartbeat_loop(dsn, name, listened, concurrency, worker))
    try:
        await worker.run()  # type: ignore[no-untyped-call]
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        await unregister(dsn, name)


async def list_workers(dsn: str, *, stale_after_s: float = 6 * HEARTBEAT_S) -> list[WorkerInfo]:
    """Workers seen within ``stale_after_s``, with the jobs each is running now."""
    async with await connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT w.name, w.host, w.pid, w.queues, w.concurrency, w.started_at, w.heartbeat_at,"
            " coalesce(json_agg(json_build_object('id', j.id, 'task', j.task_name,"
            " 'queue', j.queue_name, 'args', j.args) ORDER BY j.id)"
            " FILTER (WHERE j.id IS NOT NULL), '[]')"
            " FROM streamer_workers w LEFT JOIN procrastinate_jobs j"
            " ON j.worker_id = w.procrastinate_worker_id AND j.status = 'doing'"
            " WHERE w.heartbeat_at > now() - %s * interval '1 second'"
            " GROUP BY w.name ORDER BY w.name",
            (stale_after_s,),
        )
        rows = await cur.fetchall()
    return [
        WorkerInfo(r[0], r[1], int(r[2]), list(r[3]), int(r[4]), r[5], r[6], list(r[7]))
        for r in rows
    ]
