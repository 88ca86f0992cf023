"""Exactly one planner: a PostgreSQL session advisory lock held on a connection of its own.

Whoever holds the lock plans; the others poll for it. The lock dies with its connection, so a
killed planner (SIGKILL closes its socket) frees it at once and a standby takes over on its
next poll. A planner cut off by a partition learns it from its own health check (TCP
keepalives and a statement timeout bound how long that takes) and stops planning; the server
drops the stale backend after its own keepalives, and only then can a standby take the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from streamer.distributed.db import connect

log = logging.getLogger(__name__)

# one 64-bit key for the whole cluster: "streamer planner" in a form that reads in pg_locks
PLANNER_LOCK_KEY = 0x73747265616D_01
Sleep = Callable[[float], Awaitable[Any]]


class PlannerLease:
    """The planner lock on a dedicated connection (``poll_s``: how often a standby retries)."""

    def __init__(
        self,
        dsn: str,
        *,
        key: int = PLANNER_LOCK_KEY,
        poll_s: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.dsn = dsn
        self.key = key
        self.poll_s = poll_s
        self._sleep = sleep
        self._conn: psycopg.AsyncConnection[Any] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    async def try_acquire(self) -> bool:
        """One attempt; True when this process is now the planner."""
        if self._conn is not None:
            return True
        conn = await connect(self.dsn)
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
            row = await cur.fetchone()
        except psycopg.Error:
            await conn.close()
            raise
        if row is None or not row[0]:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def acquire(self) -> None:
        """Wait until this process holds the lock (a database that is down is waited out too)."""
        while True:
            try:
                if await self.try_acquire():
                    return
            except psycopg.Error as exc:
                log.warning("planner lease: database unreachable (%s); retrying", exc)
            await self._sleep(self.poll_s)

    async def still_held(self) -> bool:
        """Ask the server over the lock's own connection (a broken link means lost)."""
        if self._conn is None:
            return False
        try:
            cur = await self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND objid = %s AND classid = %s",
                (self.key & 0xFFFFFFFF, (self.key >> 32) & 0xFFFFFFFF),
            )
            row = await cur.fetchone()
        except psycopg.Error as exc:
            log.warning("planner lease: lost the lock's connection (%s)", exc)
            await self.release()
            return False
        return bool(row and row[0])

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()  # closing the session frees the lock


async def lead_while_elected(
    lease: PlannerLease,
    lead: Callable[[], Awaitable[None]],
    *,
    check_s: float = 2.0,
    sleep: Sleep = asyncio.sleep,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Stand by until elected, run ``lead`` while the lock holds; start over when it is lost.

    ``lead`` is cancelled as soon as a health check finds the lock gone, so a planner that was
    cut off stops planning before a standby can take over. Returns only when ``lead`` returns.
    """
    while True:
        await lease.acquire()
        log.info("planner lease acquired: this process plans")
        if on_change:
            on_change(True)
        task = asyncio.ensure_future(lead())
        try:
            while not task.done():
                await _first(task, sleep(check_s))
                if not task.done() and not await lease.still_held():
                    log.warning("planner lease lost: planning stops here")
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    break
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if on_change:
                on_change(False)
        if task.done() and not task.cancelled():
            await lease.release()
            task.result()  # re-raise what lead raised
            return


async def _first(task: asyncio.Future[None], other: Awaitable[Any]) -> None:
    waiter = asyncio.ensure_future(other)
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
