"""Capture leases: one worker captures a broadcast at a time, under a lease it renews.

A lease is a row of ``streamer_capture_leases``: owner, expiry (the database's clock, so hosts
need not agree on the time) and a fencing token that grows by one at every change of owner.

- ``acquire`` takes a free or expired lease (token + 1), or renews one this owner holds.
- ``renew`` extends it only while owner and token still match and it has not expired.
- Every write a capture makes goes through ``fenced``: a transaction that first locks the lease
  row and checks the token, so once another worker took over, a late write of the old owner
  changes nothing (a paused or cut-off worker cannot write after losing its lease).
- ``LeaseKeeper`` renews in the background and also keeps a local deadline, so a worker that
  cannot reach the database stops on its own before its lease can pass to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from streamer.distributed.db import connect

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[Any]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class Lease:
    broadcast: str
    owner: str
    token: int
    expires_at: datetime  # the database's clock
    stop_requested: bool = False  # the media team asked the holder to stop


class LeaseLost(Exception):
    """This worker no longer holds the capture lease: it must stop writing."""


_ACQUIRE = """
INSERT INTO streamer_capture_leases AS l (broadcast_id, owner, token, expires_at, acquired_at)
VALUES (%(b)s, %(o)s, 1, clock_timestamp() + %(ttl)s * interval '1 second', clock_timestamp())
ON CONFLICT (broadcast_id) DO UPDATE SET
  token = CASE WHEN l.owner = excluded.owner AND l.expires_at > clock_timestamp()
               THEN l.token ELSE l.token + 1 END,
  acquired_at = CASE WHEN l.owner = excluded.owner AND l.expires_at > clock_timestamp()
               THEN l.acquired_at ELSE clock_timestamp() END,
  stop_requested = CASE WHEN l.owner = excluded.owner AND l.expires_at > clock_timestamp()
               THEN l.stop_requested ELSE false END,
  owner = excluded.owner,
  expires_at = excluded.expires_at
WHERE l.expires_at <= clock_timestamp() OR l.owner = excluded.owner
RETURNING token, expires_at
"""

_RENEW = """
UPDATE streamer_capture_leases
SET expires_at = clock_timestamp() + %(ttl)s * interval '1 second'
WHERE broadcast_id = %(b)s AND owner = %(o)s AND token = %(t)s AND expires_at > clock_timestamp()
RETURNING expires_at, stop_requested
"""

_FENCE = """
SELECT 1 FROM streamer_capture_leases
WHERE broadcast_id = %(b)s AND owner = %(o)s AND token = %(t)s AND expires_at > clock_timestamp()
FOR SHARE
"""


class CaptureLeases:
    """Lease operations for one worker (``owner``, e.g. ``host:pid``) on one database."""

    def __init__(self, dsn: str, owner: str, *, ttl_s: float = 30.0) -> None:
        self.dsn = dsn
        self.owner = owner
        self.ttl_s = ttl_s
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def acquire(self, broadcast: str) -> Lease | None:
        """Take the lease when free or expired (or extend our own); None when another holds it."""
        async with await connect(self.dsn) as conn:
            cur = await conn.execute(_ACQUIRE, {"b": broadcast, "o": self.owner, "ttl": self.ttl_s})
            row = await cur.fetchone()
        if row is None:
            return None
        return Lease(broadcast, self.owner, int(row[0]), row[1])

    async def renew(self, lease: Lease) -> Lease | None:
        """Extend the lease; None when it was lost (expired, or taken over).

        Renewals reuse one connection (a new one per renewal is slow on a busy host); a
        failed one is dropped and the next renewal connects afresh."""
        if self._conn is None or self._conn.closed:
            self._conn = await connect(self.dsn)
        params = {"b": lease.broadcast, "o": lease.owner, "t": lease.token, "ttl": self.ttl_s}
        try:
            cur = await self._conn.execute(_RENEW, params)
            row = await cur.fetchone()
        except BaseException:
            await self.close()
            raise
        if row is None:
            return None
        return Lease(lease.broadcast, lease.owner, lease.token, row[0], bool(row[1]))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def release(self, lease: Lease) -> None:
        """Give the lease up at once (a clean stop), so another worker need not wait it out."""
        async with await connect(self.dsn) as conn:
            await conn.execute(
                "UPDATE streamer_capture_leases SET expires_at = clock_timestamp()"
                " WHERE broadcast_id = %s AND owner = %s AND token = %s",
                (lease.broadcast, lease.owner, lease.token),
            )

    async def holder(self, broadcast: str) -> Lease | None:
        """The current, unexpired lease of a broadcast, whoever holds it."""
        async with await connect(self.dsn) as conn:
            cur = await conn.execute(
                "SELECT owner, token, expires_at FROM streamer_capture_leases"
                " WHERE broadcast_id = %s AND expires_at > clock_timestamp()",
                (broadcast,),
            )
            row = await cur.fetchone()
        return None if row is None else Lease(broadcast, row[0], int(row[1]), row[2])


@contextlib.asynccontextmanager
async def fenced(
    conn: psycopg.AsyncConnection[Any], lease: Lease
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A transaction that commits only while ``lease`` is current; raises LeaseLost otherwise.

    The lease row stays share-locked until commit, so a takeover (which updates that row)
    waits for this write or happens before it; never in between.
    """
    async with conn.transaction():
        cur = await conn.execute(_FENCE, {"b": lease.broadcast, "o": lease.owner, "t": lease.token})
        if await cur.fetchone() is None:
            raise LeaseLost(f"capture lease of {lease.broadcast!r} (token {lease.token}) is gone")
        yield conn


class LeaseKeeper:
    """Renews a lease every ``ttl/3`` until stopped; ``valid()`` turns False for good when lost.

    The local deadline counts from when each renewal was *sent*, minus a margin, so it ends
    before the database's expiry even when the link dies: the worker stops first.
    """

    def __init__(
        self,
        leases: CaptureLeases,
        lease: Lease,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.2,
    ) -> None:
        self.leases = leases
        self.lease = lease
        self._clock = clock
        self._sleep = sleep
        self._margin = leases.ttl_s * margin
        self._deadline = clock() + leases.ttl_s - self._margin
        self.lost = asyncio.Event()
        self.stop_requested = asyncio.Event()
        self._abandoned: set[asyncio.Future[Lease | None]] = set()

    def valid(self) -> bool:
        if not self.lost.is_set() and self._clock() >= self._deadline:
            log.warning("capture lease of %s ran out locally", self.lease.broadcast)
            self.lost.set()
        return not self.lost.is_set()

    def check(self) -> None:
        if not self.valid():
            raise LeaseLost(f"capture lease of {self.lease.broadcast!r} lost")

    async def run(self) -> None:
        """The renewal loop; returns once the lease is lost."""
        period = self.leases.ttl_s / 3
        while self.valid():
            # wake at the local deadline too, so ``lost`` is set the moment it passes
            await self._sleep(max(0.0, min(period, self._deadline - self._clock())))
            if not self.valid():
                break
            sent = self._clock()
            renewal = asyncio.ensure_future(self.leases.renew(self.lease))
            await asyncio.wait({renewal}, timeout=max(0.1, self._deadline - sent))
            if not renewal.done():
                # not awaited: on a dead link, cancelling a query can itself hang (psycopg
                # sends a cancel request over a new connection); the deadline must not wait
                renewal.cancel()
                self._abandoned.add(renewal)
                renewal.add_done_callback(_consume)
                renewal.add_done_callback(self._abandoned.discard)
                log.warning("capture lease of %s: renewal unanswered", self.lease.broadcast)
                continue  # the local deadline decides
            try:
                renewed = renewal.result()
            except (psycopg.Error, OSError) as exc:
                log.warning("capture lease of %s: renewal failed (%r)", self.lease.broadcast, exc)
                continue  # the local deadline decides
            if renewed is None:
                log.warning("capture lease of %s was taken over", self.lease.broadcast)
                self.lost.set()
                break
            self.lease = renewed
            if renewed.stop_requested:
                self.stop_requested.set()
            self._deadline = sent + self.leases.ttl_s - self._margin


def _consume(future: asyncio.Future[Lease | None]) -> None:
    """Retrieve an abandoned renewal's outcome, so asyncio does not log it as unhandled."""
    if not future.cancelled():
        future.exception()
