"""Two `streamer run` processes with STREAMER_RUNNER=procrastinate and one `streamer worker`:
exactly one plans and serves; its admin status lists the worker and /metrics the queue; after
a SIGKILL the standby takes the planner lock and serves. How soon is the lease's business,
checked on its own clock in test_leases.py (the standby's first attempt after the lock is freed
gets it); here every wait is a condition with a hang guard, so a loaded machine cannot fail it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg

from streamer.distributed.planner import PLANNER_LOCK_KEY
from tests.conftest import TEST_TOKEN as TOKEN
from tests.ports import free_port

from .procs import Child, child_env

HANG_S = 180.0  # a bound on a hang (start-up included), not on speed


def planner_locks(dsn: str) -> list[int]:
    """The backends holding the planner's advisory lock in this test's database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())",
            ((PLANNER_LOCK_KEY >> 32) & 0xFFFFFFFF, PLANNER_LOCK_KEY & 0xFFFFFFFF),
        ).fetchall()
    return [int(r[0]) for r in rows]


def answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_one_planner_serves_and_the_standby_takes_over(
    pg_url: str, pg_dsn: str, tmp_path: Path, children: list[Child]
) -> None:
    (tmp_path / "schedules").mkdir()
    base = {
        "STREAMER_RUNNER": "procrastinate",
        "STREAMER_DATABASE_URL": pg_url,
        "STREAMER_ADMIN_TOKEN": TOKEN,
        "STREAMER_SCHEDULES": str(tmp_path / "schedules"),
    }
    worker = Child(["-m", "streamer", "worker", "--queues", "split,publish"],
                   child_env(**base, STREAMER_DATA_DIR=str(tmp_path / "w")))  # fmt: skip
    children.append(worker)
    ports = [free_port(), free_port()]
    planners = []
    for i, port in enumerate(ports):
        env = child_env(**base, STREAMER_DATA_DIR=str(tmp_path / f"p{i}"))
        planners.append(Child(["-m", "streamer", "run", "--port", str(port)], env))
        children.append(planners[-1])

    deadline = time.monotonic() + HANG_S
    while not any(answers(p) for p in ports):
        assert time.monotonic() < deadline, "no planner served"
        assert all(p.proc.poll() is None for p in planners)
        time.sleep(0.2)
    serving = [i for i, p in enumerate(ports) if answers(p)]
    assert len(serving) == 1, "both processes plan"
    leader, standby = serving[0], 1 - serving[0]

    headers = {"Authorization": f"Bearer {TOKEN}"}
    deadline = time.monotonic() + HANG_S
    while True:
        status = httpx.get(
            f"http://127.0.0.1:{ports[leader]}/api/v1/admin/status", headers=headers, timeout=10
        ).json()
        if status.get("workers"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    (w,) = status["workers"]
    assert w["pid"] == worker.pid and w["queues"] == ["split", "publish"]
    assert w["host"] and w["last_heartbeat"] and w["running"] == []
    # nothing captures: the status says so (captures are jobs of the capture queue)
    assert [q for q in ("capture", "split", "publish") if q in str(status["queue_warnings"])] == [
        "capture"
    ]
    text = httpx.get(f"http://127.0.0.1:{ports[leader]}/metrics", timeout=10).text
    assert "streamer_workers 1.0" in text and "streamer_job_seconds" in text

    # by now the standby has stood by for the worker's first heartbeat and more: still one
    # planner, and one holder of the lock
    assert not answers(ports[standby]), "both processes plan"
    (holder,) = planner_locks(pg_dsn)

    planners[leader].kill()
    deadline = time.monotonic() + HANG_S
    while not answers(ports[standby]):
        assert time.monotonic() < deadline, "the standby never took over"
        assert planners[standby].proc.poll() is None, "the standby exited"
        time.sleep(0.1)
    # the standby serves because it took the lock over, on a session of its own
    (taker,) = planner_locks(pg_dsn)
    assert taker != holder
    assert not answers(ports[leader])
