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

from streamer import procs
from streamer.distributed.app import make_app_for_dsn
from streamer.distributed.schema import ensure_schema
from streamer.distributed.tasks import PUBLISH
from streamer.distributed.workers import list_workers
from tests.publish.conftest import EVENT_ID, write_session

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


def small_mp4(out: Path) -> Path:
    procs.run(
        [
            procs.ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=1",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(out),
        ],
        timeout=60,
    )  # fmt: skip
    return out


def job_status(dsn: str, job_id: int) -> str:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,))
        row = cur.fetchone()
    return str(row[0]) if row else ""


def test_worker_runs_a_publish_job_and_registers_itself(
    tmp_path: Path, pg_url: str, pg_dsn: str
) -> None:
    data = tmp_path / "data"
    write_session(data / "vods", "d1-keynote", small_mp4(tmp_path / "a.mp4"), start="10:00")
    worker = subprocess.Popen(
        [*STREAMER, "worker", "--queues", "publish", "--concurrency", "2"],
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
                return await app.configure_task(PUBLISH).defer_async(
                    event_id=EVENT_ID, session_id="d1-keynote"
                )

        job_id = asyncio.run(defer())
        status = wait_for(
            lambda: (s := job_status(pg_dsn, job_id)) in ("succeeded", "failed") and s,
            timeout=120,
            what="the publish job",
        )
        assert status == "succeeded", worker.stderr.read() if worker.poll() is not None else ""
        assert (data / "public" / EVENT_ID / "index.json").exists()
        assert (data / "public" / EVENT_ID / "d1-keynote.mp4").exists()

        seen = wait_for(lambda: asyncio.run(list_workers(pg_dsn)), what="the worker's heartbeat")
        assert len(seen) == 1
        info = seen[0]
        assert info.pid == worker.pid and info.queues == ["publish"] and info.concurrency == 2
        assert info.host and info.running == []
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
