"""Two `streamer run` processes with STREAMER_RUNNER=procrastinate and one `streamer worker`:
exactly one plans and serves; its admin status lists the worker and /metrics the queue; after
a SIGKILL the standby serves within seconds."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_TOKEN as TOKEN

from .procs import Child, child_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_one_planner_serves_and_the_standby_takes_over(
    pg_url: str, tmp_path: Path, children: list[Child]
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

    deadline = time.monotonic() + 120
    while not any(answers(p) for p in ports):
        assert time.monotonic() < deadline, "no planner served"
        assert all(p.proc.poll() is None for p in planners)
        time.sleep(0.2)
    time.sleep(2)  # a wrongly elected second planner would show itself now
    serving = [i for i, p in enumerate(ports) if answers(p)]
    assert len(serving) == 1, "both processes plan"
    leader, standby = serving[0], 1 - serving[0]

    headers = {"Authorization": f"Bearer {TOKEN}"}
    deadline = time.monotonic() + 60
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

    planners[leader].kill()
    killed = time.monotonic()
    while not answers(ports[standby]):
        assert time.monotonic() - killed < 60, "the standby never took over"
        time.sleep(0.1)
    took = time.monotonic() - killed
    assert took < 30, f"standby served {took:.1f}s after the kill"  # start-up included
