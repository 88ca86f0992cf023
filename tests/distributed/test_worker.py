"""`streamer worker`: a real worker process takes stage jobs from PostgreSQL, shows itself in
the worker registry, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg

from streamer.distributed.app import make_app_for_dsn
from streamer.distributed.schema import ensure_schema
from streamer.distributed.tasks import PROCESS
from streamer.distributed.workers import list_workers
from streamer.pipeline.states import BroadcastState, SessionState
from streamer.pipeline.store import Store
from tests.split.conftest import SESSIONS, make_program

from .test_leases import wait_for

ROOT = Path(__file__).resolve().parents[2]
STREAMER = [sys.executable, "-m", "streamer"]


def worker_env(tmp_path: Path, pg_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    env.update(
        STREAMER_RUNNER="procrastinate",
        STREAMER_DATABASE_URL=pg_url,
        STREAMER_DATA_DIR=str(tmp_path / "data"),
        STREAMER_LOG_LEVEL="INFO",
    )
    return env


def job_status(dsn: str, job_id: int) -> str:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,))
        row = cur.fetchone()
    return str(row[0]) if row else ""


def test_worker_runs_a_stage_job_and_registers_itself(
    tmp_path: Path, pg_url: str, pg_dsn: str
) -> None:
    """A process job for a broadcast that was never recorded: the stage records the failure
    and the retry policy's verdict in the shared state DB."""
    store = Store(pg_url)
    store.sync_program(make_program(SESSIONS))
    worker = subprocess.Popen(
        [*STREAMER, "worker", "--queues", "split,publish", "--concurrency", "2"],
        cwd=tmp_path,
        env=worker_env(tmp_path, pg_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        asyncio.run(ensure_schema(pg_dsn))

        async def defer() -> int:
            app = make_app_for_dsn(pg_dsn)
            async with app.open_async():
                return await app.configure_task(PROCESS).defer_async(
                    event_id="testcon", session_id="mid"
                )

        job_id = asyncio.run(defer())
        status = wait_for(
            lambda: (s := job_status(pg_dsn, job_id)) in ("succeeded", "failed") and s,
            timeout=120,
            what="the process job",
        )
        assert status == "succeeded", worker.stderr.read() if worker.poll() is not None else ""
        s = store.session("testcon", "mid")
        assert s.state == SessionState.FAILED and "never recorded" in (s.reason or "")
        # never recorded and no longer on air: the policy gives up, so nothing is re-queued
        assert s.next_try_at is None
        with psycopg.connect(pg_dsn) as conn:
            queued = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"
            ).fetchone()
        assert queued == (0,)

        # while the broadcast is on air a retry can help: the worker re-queues it at next_try_at
        store.set_broadcast_state("testcon", "day1", BroadcastState.LIVE)

        async def defer_gap() -> int:
            app = make_app_for_dsn(pg_dsn)
            async with app.open_async():
                return await app.configure_task(PROCESS).defer_async(
                    event_id="testcon", session_id="gap"
                )

        gap_job = asyncio.run(defer_gap())
        wait_for(lambda: job_status(pg_dsn, gap_job) == "succeeded", timeout=120, what="gap")
        g = store.session("testcon", "gap")
        assert g.state == SessionState.FAILED and g.next_try_at is not None
        with psycopg.connect(pg_dsn) as conn:
            retry = conn.execute(
                "SELECT scheduled_at FROM procrastinate_jobs WHERE status = 'todo'"
                " AND queueing_lock = 'retry:testcon.gap'"
            ).fetchone()
        assert retry is not None and retry[0] == g.next_try_at

        seen = wait_for(lambda: asyncio.run(list_workers(pg_dsn)), what="the worker's heartbeat")
        assert len(seen) == 1
        info = seen[0]
        assert info.pid == worker.pid and info.queues == ["split", "publish"]
        assert info.concurrency == 2 and info.host and info.running == []
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert asyncio.run(list_workers(pg_dsn)) == []  # a clean stop leaves the registry


def test_worker_refuses_bad_settings_clearly(tmp_path: Path, pg_url: str) -> None:
    env = worker_env(tmp_path, pg_url)
    bad_queue = subprocess.run(
        [*STREAMER, "worker", "--queues", "split,render"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad_queue.returncode == 2
    assert "unknown queue(s) render" in bad_queue.stderr and "Traceback" not in bad_queue.stderr

    env["STREAMER_DATABASE_URL"] = f"sqlite:///{tmp_path}/x.db"
    sqlite = subprocess.run(
        [*STREAMER, "worker"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert sqlite.returncode == 2
    assert "needs PostgreSQL" in sqlite.stderr and "Traceback" not in sqlite.stderr
