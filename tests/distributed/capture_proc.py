"""A stand-in capture worker for the takeover tests: its own data dir (its own "machine"),
capturing one broadcast under the lease and shipping to S3 (moto) until ``duration_s``.

    python -m tests.distributed.capture_proc DSN URL DATA_DIR S3_ENDPOINT BUCKET TTL DURATION

Prints ``ready``, then ``capturing TOKEN`` when it holds the lease, and its outcome at the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from streamer.capture.hls import RecordResult, record
from streamer.distributed.capture import capture_under_lease
from streamer.distributed.db import connect
from streamer.distributed.leases import CaptureLeases
from streamer.distributed.raw import raw_root
from streamer.publish.s3 import S3Storage
from streamer.publish.s3_retry import RetryPolicy

KEY = "testcon.day1"


async def main(dsn: str, url: str, data: Path, endpoint: str, bucket: str, ttl: float,
               duration: float) -> int:  # fmt: skip
    async with await connect(dsn) as conn:
        await conn.execute("SELECT 1")
    print("ready", flush=True)
    storage = S3Storage(
        bucket, "", endpoint_url=endpoint, path_style=True,
        retry=RetryPolicy(total_s=10, initial_s=0.1, max_wait_s=1.0, connect_timeout_s=2,
                          read_timeout_s=10),
    )  # fmt: skip
    leases = CaptureLeases(dsn, f"proc:{os.getpid()}", ttl_s=ttl)
    rec_dir = data / "recordings" / "testcon" / "day1"

    async def recorder(stop: asyncio.Event, owned: Callable[[], bool]) -> RecordResult:
        print("capturing", flush=True)
        return await record(url, rec_dir, stop=stop, duration_s=duration, stall_timeout_s=10)

    while True:
        outcome = await capture_under_lease(
            leases, KEY, rec_dir, recorder, storage=storage,
            root=raw_root("raw", "testcon", "day1"), ship_every_s=0.5,
        )  # fmt: skip
        if outcome.outcome != "busy":
            print(f"outcome {outcome.outcome} {outcome.token}", flush=True)
            return 0 if outcome.outcome == "recorded" else 3
        await asyncio.sleep(0.2)


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(asyncio.run(main(a[0], a[1], Path(a[2]), a[3], a[4], float(a[5]), float(a[6]))))
