"""The distributed mode's queue and leases on a throwaway PostgreSQL (initdb + pg_ctl).

    .venv/bin/python bench/queue_bench.py [--jobs 2000] [--paced 200] [--concurrency 8]
        [--takeovers 3] [--ttl 5]

1. Baseline: a plain ``SELECT 1`` round trip on an open connection (p50, p99, per second).
2. Enqueue → start latency: ``--paced`` no-op jobs deferred one every 20 ms while one
   ``procrastinate`` worker process (``--concurrency``) listens; the times come from
   procrastinate's own event rows (deferred → started, the database's clock).
3. Throughput: ``--jobs`` no-op jobs deferred at once, then drained by the same worker:
   jobs per second from the first start to the last success.
4. Takeover after SIGKILL: a capture lease holder (``--ttl`` seconds) and the planner,
   each a real process killed mid-lease while a standby waits; time from the kill to the
   standby's first write.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgcluster import start_cluster, stop_cluster  # noqa: E402


def make_app(dsn: str) -> Any:
    from procrastinate import App, PsycopgConnector

    app = App(connector=PsycopgConnector(conninfo=dsn, min_size=1, max_size=12))

    @app.task(name="bench.noop", queue="bench")
    async def noop() -> None:
        return None

    return app


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def select1(dsn: str, n: int) -> dict[str, float]:
    lat: list[float] = []
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            await conn.execute("SELECT 1")
            lat.append(time.perf_counter() - t)
        total = time.perf_counter() - t0
    return {"p50": pct(lat, 50) * 1e3, "p99": pct(lat, 99) * 1e3, "per_s": n / total}


async def defer(dsn: str, n: int, gap_s: float) -> float:
    """Defer ``n`` jobs one by one; the deferrer's own rate (jobs/s)."""
    app = make_app(dsn)
    async with app.open_async():
        task = app.configure_task("bench.noop")
        t0 = time.perf_counter()
        for _ in range(n):
            await task.defer_async()
            if gap_s:
                await asyncio.sleep(gap_s)
        return n / (time.perf_counter() - t0)


def wait_done(dsn: str, n: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            ).fetchone()
            if row and row[0] >= n:
                return
            time.sleep(0.2)
    raise SystemExit("the worker did not drain the queue in time")


def event_latencies(dsn: str) -> list[float]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM s.at - d.at) FROM procrastinate_events d"
            " JOIN procrastinate_events s ON s.job_id = d.job_id AND s.type = 'started'"
            " WHERE d.type = 'deferred'"
        ).fetchall()
    return [float(r[0]) for r in rows]


def throughput(dsn: str) -> float:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE type = 'succeeded'),"
            " extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded')"
            " - min(at) FILTER (WHERE type = 'started'))"
            " FROM procrastinate_events"
        ).fetchone()
    assert row is not None
    return float(row[0]) / float(row[1])


def reset(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE procrastinate_events, procrastinate_jobs CASCADE")


def spawn(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"{args} did not start")
    return proc


def takeover(dsn: str, mode: str, extra: list[str]) -> float:
    """Kill the lease holder; seconds until the standby's first write (database clock)."""
    table = "planner_beats" if mode == "planner" else "capture_writes"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(
            f"CREATE TABLE {table} (owner text, token bigint, n int, pid int,"
            " at timestamptz DEFAULT clock_timestamp())"
        )
        conn.execute("DELETE FROM streamer_capture_leases")
    args = ["-m", "tests.distributed.lease_proc", mode, dsn, *extra]
    first = spawn(*args)
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
            time.sleep(0.05)
    second = spawn(*args)
    holder, standby = first, second
    with psycopg.connect(dsn, autocommit=True) as conn:
        killed = conn.execute("SELECT clock_timestamp()").fetchone()
        holder.kill()
        col = "pid" if mode == "planner" else "owner"
        mark: Any = standby.pid if mode == "planner" else f"proc:{standby.pid}"
        while True:
            row = conn.execute(
                f"SELECT extract(epoch FROM min(at) - %s) FROM {table} WHERE {col} = %s",
                (killed[0] if killed else None, mark),
            ).fetchone()
            if row and row[0] is not None:
                took = float(row[0])
                break
            time.sleep(0.05)
    for p in (holder, standby):
        p.kill()
        p.wait()
    return took


def run_worker(dsn: str, concurrency: int) -> None:
    from procrastinate.worker import Worker

    logging.getLogger("procrastinate").setLevel(logging.ERROR)  # the "app in __main__" note

    app = make_app(dsn)

    async def main() -> None:
        async with app.open_async():
            print("ready", flush=True)
            await Worker(app=app, queues=["bench"], concurrency=concurrency).run()  # type: ignore[no-untyped-call]

    asyncio.run(main())


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        run_worker(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--paced", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--takeovers", type=int, default=3)
    ap.add_argument("--ttl", type=float, default=5.0)
    opts = ap.parse_args()
    logging.getLogger("procrastinate").setLevel(logging.ERROR)

    from streamer.distributed.schema import ensure_schema

    cluster = start_cluster()
    try:
        dsn = cluster.dsn
        asyncio.run(ensure_schema(dsn))
        base = asyncio.run(select1(dsn, 2000))
        print(
            f"SELECT 1 round trip: p50 {base['p50']:.2f} ms, p99 {base['p99']:.2f} ms, "
            f"{base['per_s']:.0f}/s (one connection)"
        )
        worker = spawn(__file__, "worker", dsn, str(opts.concurrency))
        try:
            asyncio.run(defer(dsn, opts.paced, 0.02))
            wait_done(dsn, opts.paced)
            lat = event_latencies(dsn)
            p50, p99 = pct(lat, 50) * 1e3, pct(lat, 99) * 1e3
            print(
                f"enqueue -> start ({len(lat)} paced jobs): p50 {p50:.1f} ms "
                f"({p50 / base['p50']:.0f}x SELECT 1), p99 {p99:.1f} ms "
                f"({p99 / base['p99']:.0f}x SELECT 1)"
            )
            reset(dsn)
            worker.terminate()  # fill the queue first, so the drain alone is timed
            worker.wait(timeout=60)
            deferred = asyncio.run(defer(dsn, opts.jobs, 0))
            print(f"defer, one client, one job per call: {deferred:.0f} jobs/s")
            worker = spawn(__file__, "worker", dsn, str(opts.concurrency))
            wait_done(dsn, opts.jobs)
            rate = throughput(dsn)
            print(
                f"throughput ({opts.jobs} no-op jobs, 1 worker, concurrency {opts.concurrency}): "
                f"{rate:.0f} jobs/s ({rate / base['per_s']:.3f}x SELECT 1 round trips/s)"
            )
        finally:
            worker.terminate()
            worker.wait(timeout=60)
        caps = [takeover(dsn, "capture", ["bench-b", str(opts.ttl)]) for _ in range(opts.takeovers)]
        plans = [takeover(dsn, "planner", []) for _ in range(opts.takeovers)]
        print(
            f"capture lease takeover after SIGKILL ({opts.ttl:.0f} s lease): median "
            f"{statistics.median(caps):.2f} s, max {max(caps):.2f} s "
            f"({statistics.median(caps) / opts.ttl:.2f}x the lease)"
        )
        print(
            f"planner takeover after SIGKILL (standby polls every 0.2 s): median "
            f"{statistics.median(plans):.2f} s, max {max(plans):.2f} s"
        )
    finally:
        stop_cluster(cluster)


if __name__ == "__main__":
    main()
