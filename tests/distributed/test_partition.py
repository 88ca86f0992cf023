"""A partition, not a crash (issue 16): the capturing worker runs in its own network
namespace, and its link is cut mid-session. It keeps running, but cannot renew its lease:
it stops capturing on its own (the lease's local deadline), the lease expires, the other
worker takes over; once the link is back, the cut-off worker writes nothing more and the
stored recording has no duplicate segment and no hole.

Needs root (``ip netns``); skipped with the reason where namespaces are not permitted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from streamer.capture.timeline import TIMELINE, Timeline
from streamer.distributed.raw import pull, raw_root
from streamer.timeutil import now
from tests.conftest import TEST_TOKEN as TOKEN
from tests.conftest import ScriptedLive
from tests.publish.conftest import MotoS3, make_s3

from .netns import Forward, Namespace, NamespaceUnavailable
from .procs import Child, Logged, child_env
from .test_planners import answers, free_port
from .test_scale_e2e import lease, query, schedule, stored_seqs, wait_for

# several processes under one test: its waits are bounded one by one, so the whole may take
# longer than the default 300 s on a loaded machine without hanging
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
LEASE_S = 10.0


@pytest.fixture
def ns() -> Iterator[Namespace]:
    made = Namespace()
    try:
        made.create()
    except (NamespaceUnavailable, FileNotFoundError, PermissionError) as exc:
        pytest.skip(f"network namespaces are not permitted here ({exc}); run as root with iproute2")
    try:
        yield made
    finally:
        made.delete()


@pytest.fixture
def sim(live_segments: list[bytes]) -> Iterator[ScriptedLive]:
    with ScriptedLive(live_segments, window=60) as b:
        yield b


def test_a_partitioned_worker_stops_writing_and_another_takes_over(
    ns: Namespace,
    pg_url: str,
    pg_dsn: str,
    moto_s3: MotoS3,
    bucket: str,
    sim: ScriptedLive,
    tmp_path: Path,
    children: list[Child | Logged],
) -> None:
    # what the namespace reaches, through the link that is cut: PostgreSQL, S3, the source
    pg_port = urlsplit(pg_dsn).port
    assert pg_port is not None
    forwards = [Forward(ns.host_ip, port) for port in (pg_port, moto_s3.port, sim_port(sim))]
    pg_fwd, s3_fwd, sim_fwd = forwards
    url = sim.url.replace(f"127.0.0.1:{sim_port(sim)}", f"{ns.host_ip}:{sim_fwd.port}")
    base = {
        "STREAMER_RUNNER": "procrastinate",
        "STREAMER_ADMIN_TOKEN": TOKEN,
        "STREAMER_SCHEDULES": str(tmp_path / "schedules"),
        "STREAMER_RAW_STORAGE": f"s3://{bucket}/",
        "STREAMER_CAPTURE_LEASE_S": str(LEASE_S),
        "STREAMER_WATCH_LEAD_S": "60",
        "STREAMER_STALL_TIMEOUT_S": "8",
        "STREAMER_LATE_LIMIT_S": "4",
        "STREAMER_LOG_LEVEL": "INFO",
    }
    here = {"STREAMER_DATABASE_URL": pg_url, "STREAMER_S3_ENDPOINT_URL": moto_s3.endpoint}
    cut_off = {
        "STREAMER_DATABASE_URL": pg_url.replace(f"127.0.0.1:{pg_port}",
                                                f"{ns.host_ip}:{pg_fwd.port}"),
        "STREAMER_S3_ENDPOINT_URL": f"http://{ns.host_ip}:{s3_fwd.port}",
    }  # fmt: skip

    def start(
        name: str, args: list[str], extra: dict[str, str], prefix: tuple[str, ...] = ()
    ) -> Logged:
        env = child_env(**base, **extra, STREAMER_DATA_DIR=str(tmp_path / name))
        child = Logged(["-m", "streamer", *args], env, tmp_path / f"{name}.log", prefix)
        children.append(child)
        return child

    def registered(worker: Logged) -> bool:
        return bool(query(pg_dsn, "SELECT 1 FROM streamer_workers WHERE pid = %s", worker.pid))

    try:
        (tmp_path / "schedules").mkdir()
        port = free_port()
        planner = start("planner", ["run", "--port", str(port)], here)
        a = start("worker-a", ["worker", "--queues", "capture"], cut_off, tuple(ns.command()))
        wait_for(lambda: answers(port), "the planner")
        wait_for(lambda: registered(a), f"worker A in the namespace: {a.tail()}")

        t0 = now()
        (tmp_path / "schedules" / "testfest.yaml").write_text(schedule(t0, url), "utf-8")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        httpx.post(f"http://127.0.0.1:{port}/api/v1/admin/reload", headers=auth, timeout=60)
        first = wait_for(lambda: lease(pg_dsn), "worker A to take the capture lease")
        assert f":{a.pid}/" in first[0], first
        b = start("worker-b", ["worker", "--queues", "capture"], here)
        wait_for(lambda: registered(b), "worker B")

        raw = make_s3(moto_s3, bucket, prefix="")
        root = raw_root("raw", "testfest", "main")
        wait_for(lambda: len(stored_seqs(raw, root)) > 3, "A to ship a few segments")
        a_timeline = tmp_path / "worker-a" / "recordings" / "testfest" / "main" / TIMELINE
        ns.cut()
        at_cut = len(stored_seqs(raw, root))
        second = wait_for(lambda: (held := lease(pg_dsn)) and f":{b.pid}/" in held[0] and held,
                          "worker B to take the capture over")  # fmt: skip
        assert second[1] == first[1] + 1
        # A stopped on its own before its lease could pass on: nothing written since
        a_segments = segments_in(a_timeline)
        assert "ran out locally" in a.tail(100_000), a.tail()
        wait_for(lambda: len(stored_seqs(raw, root)) > at_cut + 2, "B to ship")

        ns.restore()  # the link is back: A must not write, here or in the store
        restored = time.monotonic()
        wait_for(lambda: "capture job of testfest.main: lost" in a.tail(100_000),
                 "A's capture job to end as lost")  # fmt: skip
        wait_for(lambda: time.monotonic() - restored > LEASE_S, "a lease period after the link")
        assert segments_in(a_timeline) == a_segments, "the cut-off worker kept recording"

        wait_for(lambda: now() > t0 + timedelta(seconds=44), "the broadcast's end")
        sim.stop()
        wait_for(lambda: lease(pg_dsn) is None, "B to finish the capture")
        assert planner.proc.poll() is None
    finally:
        for forward in forwards:
            forward.close()

    seqs = stored_seqs(raw, root)
    assert len(seqs) == len(set(seqs)), "a segment was stored twice"
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a hole in the stored recording"
    copy = tmp_path / "copy"
    pull(raw, root, copy)
    assert Timeline.load(copy).gaps() == []  # the window healed the partition


def sim_port(sim: ScriptedLive) -> int:
    port = urlsplit(sim.url).port
    assert port is not None
    return port


def segments_in(timeline: Path) -> int:
    """Segment rows a worker wrote to its own timeline (its end row does not count)."""
    return sum('"t": "seg"' in line for line in timeline.read_text("utf-8").splitlines())
