"""A stand-in process for the lease tests: a planner or a capture worker that writes a row
every 0.1 s while it holds its lease, so a test can SIGKILL or SIGSTOP it and read who wrote.
Each attempt to take the lease is logged too (``lease_attempts``: who, when it began on the
database's clock, whether it got it), so a test can check a take-over against the lease's own
timeline (its expiry, the moment the lock was freed) instead of the wall time it took.

    python -m tests.distributed.lease_proc planner DSN
    python -m tests.distributed.lease_proc capture DSN BROADCAST TTL_S
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from streamer.distributed.db import connect
from streamer.distributed.leases import CaptureLeases, LeaseKeeper, LeaseLost, fenced
from streamer.distributed.planner import PlannerLease, lead_while_elected

TICK_S = 0.1
T = TypeVar("T")


class Attempts:
    """Logs lease attempts on a connection of its own; ``began`` is read before the attempt."""

    def __init__(self, dsn: str, who: str) -> None:
        self.dsn = dsn
        self.who = who

    async def attempt(self, take: Callable[[], Awaitable[T]]) -> T:
        async with await connect(self.dsn) as conn:
            cur = await conn.execute("SELECT clock_timestamp()")
            row = await cur.fetchone()
            assert row is not None
            got = await take()
            await conn.execute(
                "INSERT INTO lease_attempts (who, began, got) VALUES (%s, %s, %s)",
                (self.who, row[0], bool(got)),
            )
            return got


class LoggedPlannerLease(PlannerLease):
    def __init__(self, dsn: str, attempts: Attempts, **kw: Any) -> None:
        super().__init__(dsn, **kw)
        self.attempts = attempts

    async def try_acquire(self) -> bool:
        if self.held:
            return True
        return await self.attempts.attempt(super().try_acquire)


async def planner(dsn: str) -> None:
    async def lead() -> None:
        async with await connect(dsn) as conn:
            while True:
                await conn.execute("INSERT INTO planner_beats (pid) VALUES (%s)", (os.getpid(),))
                await asyncio.sleep(TICK_S)

    lease = LoggedPlannerLease(dsn, Attempts(dsn, str(os.getpid())), poll_s=0.2)
    await lead_while_elected(lease, lead, check_s=0.5)


async def capture(dsn: str, broadcast: str, ttl_s: float) -> int:
    leases = CaptureLeases(dsn, f"proc:{os.getpid()}", ttl_s=ttl_s)
    attempts = Attempts(dsn, leases.owner)
    lease = await attempts.attempt(lambda: leases.acquire(broadcast))
    while lease is None:
        await asyncio.sleep(TICK_S)
        lease = await attempts.attempt(lambda: leases.acquire(broadcast))
    print(f"acquired {lease.token}", flush=True)
    keeper = LeaseKeeper(leases, lease)
    renewing = asyncio.ensure_future(keeper.run())
    n = 0
    async with await connect(dsn, autocommit=False) as conn:
        try:
            while True:
                keeper.check()  # the local guard: stop before the lease can pass on
                async with fenced(conn, keeper.lease):  # the database's guard
                    await conn.execute(
                        "INSERT INTO capture_writes (owner, token, n) VALUES (%s, %s, %s)",
                        (lease.owner, lease.token, n),
                    )
                n += 1
                await asyncio.sleep(TICK_S)
        except LeaseLost as exc:
            print(f"lost: {exc}", flush=True)
            renewing.cancel()
            return 3


async def ready(dsn: str) -> None:
    async with await connect(dsn) as conn:
        await conn.execute("SELECT 1")
    print("ready", flush=True)  # started and connected: the test may go on


def main() -> int:
    mode, dsn = sys.argv[1], sys.argv[2]
    asyncio.run(ready(dsn))
    if mode == "planner":
        asyncio.run(planner(dsn))
        return 0
    return asyncio.run(capture(dsn, sys.argv[3], float(sys.argv[4])))


if __name__ == "__main__":
    sys.exit(main())
