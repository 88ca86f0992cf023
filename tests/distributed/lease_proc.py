"""A stand-in process for the lease tests: a planner or a capture worker that writes a row
every 0.1 s while it holds its lease, so a test can SIGKILL or SIGSTOP it and read who wrote.

    python -m tests.distributed.lease_proc planner DSN
    python -m tests.distributed.lease_proc capture DSN BROADCAST TTL_S
"""

from __future__ import annotations

import asyncio
import os
import sys

from streamer.distributed.db import connect
from streamer.distributed.leases import CaptureLeases, LeaseKeeper, LeaseLost, fenced
from streamer.distributed.planner import PlannerLease, lead_while_elected

TICK_S = 0.1


async def planner(dsn: str) -> None:
    async def lead() -> None:
        async with await connect(dsn) as conn:
            while True:
                await conn.execute("INSERT INTO planner_beats (pid) VALUES (%s)", (os.getpid(),))
                await asyncio.sleep(TICK_S)

    await lead_while_elected(PlannerLease(dsn, poll_s=0.2), lead, check_s=0.5)


async def capture(dsn: str, broadcast: str, ttl_s: float) -> int:
    leases = CaptureLeases(dsn, f"proc:{os.getpid()}", ttl_s=ttl_s)
    lease = await leases.acquire(broadcast)
    while lease is None:
        await asyncio.sleep(TICK_S)
        lease = await leases.acquire(broadcast)
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
