"""The distributed mode end to end (issue 16): two planners, two workers, one broadcast with
three sessions, real PostgreSQL, moto's S3 server, a live source on 127.0.0.1.

Each process has its own data dir (its own "machine"); recordings reach the others only
through the raw store. Mid-broadcast the capturing worker is SIGKILLed: its lease expires,
the other worker resumes the capture from what was shipped and refetches the playlist
window, so every session is published with full coverage. Then the planner is SIGKILLed:
the standby plans within seconds, and no stage job runs twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from streamer.capture.timeline import TIMELINE
from streamer.distributed.raw import raw_root
from streamer.errors import NotFound
from streamer.timeutil import iso, now
from tests.conftest import TEST_TOKEN as TOKEN
from tests.conftest import ScriptedLive
from tests.publish.conftest import MotoS3, make_s3

from .procs import Child, Logged, child_env
from .test_leases import LEASE_LOG
from .test_planners import answers, free_port, planner_locks

# several processes under one test: its waits are bounded one by one, so the whole may take
# longer than the default 300 s on a loaded machine without hanging
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
T = TypeVar("T")
LEASE_S = 10.0
BOUND_S = 300.0  # conditions, not paces: bounds are generous on a loaded machine


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = BOUND_S) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def query(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


def lease(dsn: str) -> tuple[str, int] | None:
    """The unexpired capture lease of the broadcast: (owner, token)."""
    rows = query(dsn, "SELECT owner, token FROM streamer_capture_leases"
                      " WHERE broadcast_id = 'testfest.main' AND expires_at > now()")  # fmt: skip
    return (str(rows[0][0]), int(rows[0][1])) if rows else None


def schedule(t0: datetime, url: str) -> str:
    def t(s: float) -> str:
        return iso(t0 + timedelta(seconds=s))

    sessions = "".join(
        f"  - {{id: s{i}, broadcast: main, start: '{t(3 + 12 * (i - 1))}',"
        f" end: '{t(3 + 12 * i)}', title: Session {i}}}\n"
        for i in (1, 2, 3)
    )
    return (
        "event: {id: testfest, title: Test Fest, timezone: Asia/Seoul}\n"
        f"broadcasts:\n  - {{id: main, url: '{url}', start: '{t(0)}', end: '{t(44)}'}}\n"
        f"sessions:\n{sessions}"
    )


def test_workers_and_planners_survive_sigkill(
    pg_url: str,
    pg_dsn: str,
    moto_s3: MotoS3,
    bucket: str,
    live_segments: list[bytes],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    children: list[Child | Logged],
) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    base = {
        "STREAMER_RUNNER": "procrastinate",
        "STREAMER_DATABASE_URL": pg_url,
        "STREAMER_ADMIN_TOKEN": TOKEN,
        "STREAMER_SCHEDULES": str(schedules),
        "STREAMER_STORAGE": f"s3://{bucket}/pub",
        "STREAMER_RAW_STORAGE": f"s3://{bucket}/",
        "STREAMER_S3_ENDPOINT_URL": moto_s3.endpoint,
        "STREAMER_CAPTURE_LEASE_S": str(LEASE_S),
        "STREAMER_GRACE_S": "2",
        "STREAMER_WATCH_LEAD_S": "60",
        "STREAMER_STALL_TIMEOUT_S": "8",
        "STREAMER_LATE_LIMIT_S": "8",
        "STREAMER_LOG_LEVEL": "INFO",
    }

    def start(name: str, *args: str) -> Logged:
        env = child_env(**base, STREAMER_DATA_DIR=str(tmp_path / name))
        child = Logged(["-m", "streamer", *args], env, tmp_path / f"{name}.log")
        children.append(child)
        return child

    def registered(worker: Logged) -> bool:
        return bool(query(pg_dsn, "SELECT 1 FROM streamer_workers WHERE pid = %s", worker.pid))

    ports = [free_port(), free_port()]
    planners = [start(f"planner{i}", "run", "--port", str(p)) for i, p in enumerate(ports)]
    # worker A captures only: the stage jobs all run on B, so killing A interrupts no split
    a = start("worker-a", "worker", "--queues", "capture")
    leader = wait_for(lambda: next((i + 1 for i, p in enumerate(ports) if answers(p)), None),
                      "a planner to serve") - 1  # fmt: skip
    wait_for(lambda: registered(a), "worker A")

    # made now, not before the processes started: its content is continuous for
    # len(live_segments) - window seconds from here, and the broadcast must fit in that
    sim = ScriptedLive(live_segments, window=60).start()  # longer than lease + takeover
    request.addfinalizer(sim.close)
    t0 = now()
    (schedules / "testfest.yaml").write_text(schedule(t0, sim.url), "utf-8")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    client = httpx.Client(base_url=f"http://127.0.0.1:{ports[leader]}", timeout=60)
    loaded = client.post("/api/v1/admin/reload", headers=auth).json()
    assert loaded["errors"] == [] and "s1" in loaded["added"], loaded

    first = wait_for(lambda: lease(pg_dsn), "worker A to take the capture lease")
    assert f":{a.pid}/" in first[0], first
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(LEASE_LOG)  # A's lease expiry stays readable after B takes it over
    b = start("worker-b", "worker")
    wait_for(lambda: registered(b), "worker B")

    # mid-session s2, once A has shipped a few segments
    raw = make_s3(moto_s3, bucket, prefix="")
    root = raw_root("raw", "testfest", "main")
    # mid-broadcast (s2 on a quiet machine), once A has shipped a few segments
    wait_for(lambda: now() > t0 + timedelta(seconds=18) and len(stored_seqs(raw, root)) > 3,
             "worker A to ship a few segments")  # fmt: skip
    a.kill()
    killed_by = query(pg_dsn, "SELECT clock_timestamp()")[0][0]
    second = wait_for(lambda: (held := lease(pg_dsn)) and f":{b.pid}/" in held[0] and held,
                      "worker B to take the capture over")  # fmt: skip
    assert second[1] == first[1] + 1  # a new owner, a new fencing token
    # on the lease's own clock: A's lease ran out within a lease period of the kill, and B
    # took it only after that (how soon after is the capture tick's pace, not asserted)
    (a_expiry,) = query(pg_dsn, "SELECT max(expires_at) FROM lease_log WHERE owner = %s",
                        first[0])[0]  # fmt: skip
    (b_acquired,) = query(pg_dsn, "SELECT min(acquired_at) FROM lease_log WHERE owner = %s",
                          second[0])[0]  # fmt: skip
    assert a_expiry <= killed_by + timedelta(seconds=LEASE_S), (a_expiry, killed_by)
    assert b_acquired >= a_expiry, (b_acquired, a_expiry)

    (holder,) = planner_locks(pg_dsn)
    planners[leader].kill()
    standby = 1 - leader
    wait_for(lambda: answers(ports[standby]), "the standby planner")
    (taker,) = planner_locks(pg_dsn)  # it serves because it took the planner lock over
    assert taker != holder
    client = httpx.Client(base_url=f"http://127.0.0.1:{ports[standby]}", timeout=60)

    wait_for(lambda: now() > t0 + timedelta(seconds=42), "the broadcast's end")
    sim.stop()  # ENDLIST

    def sessions() -> dict[str, dict[str, Any]]:
        data = client.get("/api/v1/admin/status", headers=auth).json()
        return {s["id"]: s for s in data["sessions"]}

    def all_published() -> dict[str, dict[str, Any]] | None:
        got = sessions()
        return got if all(s["state"] == "published" for s in got.values()) else None

    done = wait_for(all_published, "every session to be published")
    assert set(done) == {"s1", "s2", "s3"}
    for s in done.values():
        assert s["coverage"] == pytest.approx(1.0), s  # the window healed the takeover
        assert s["vod_version"] == 1 and s["attempts"] == 0, s  # published once, no failure

    # the stored raw recording: one copy of each segment, no hole
    seqs = stored_seqs(raw, root)
    assert len(seqs) == len(set(seqs)), "a segment was stored twice"
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a hole in the raw recording"

    # no stage job ran twice: each started once, and each session's VOD was published once
    starts = query(pg_dsn, "SELECT j.id, j.task_name, count(e.id) FROM procrastinate_jobs j"
                           " JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'started'"
                           " WHERE j.task_name <> 'streamer.capture_broadcast'"
                           " GROUP BY j.id, j.task_name")  # fmt: skip
    assert starts and all(n == 1 for _, _, n in starts), starts
    index = json.loads(make_s3(moto_s3, bucket, prefix="pub").get_bytes("testfest/index.json"))
    assert sorted(i["session_id"] for i in index["items"]) == ["s1", "s2", "s3"]
    for item in index["items"]:
        assert abs(item["duration_s"] - 12) < 1.0 and item["gaps"] == [], item
    print(f"capture lease: expired {a_expiry}, taken over {b_acquired}")


def stored_seqs(storage: Any, root: str) -> list[int]:
    try:
        data = storage.get_bytes(f"{root}/{TIMELINE}")
    except NotFound:
        return []
    return [r["seq"] for r in map(json.loads, data.splitlines()) if r.get("t") == "seg"]
