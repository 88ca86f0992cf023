"""Planner election and capture leases against a real PostgreSQL, with real processes killed
(SIGKILL) or frozen (SIGSTOP) mid-lease."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import psycopg
import pytest

from streamer.distributed.leases import CaptureLeases, LeaseKeeper, LeaseLost, fenced
from streamer.distributed.planner import PlannerLease
from streamer.distributed.schema import ensure_schema

from .procs import Child

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """Poll ``probe`` until it returns something (a deadline, not a pace: no speed assumed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or probe}")


def spawn(children: list[Child], *args: str) -> Child:
    child = Child(["-m", "tests.distributed.lease_proc", *args])
    children.append(child)
    child.expect("ready", timeout=HANG_S)  # Python's start-up can take long on a busy machine
    return child


def query(dsn: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


ATTEMPTS = "CREATE TABLE lease_attempts (who text, began timestamptz, got boolean)"
# every change of a capture lease, so its expiry before a take-over can be read afterwards
LEASE_LOG = """
CREATE TABLE lease_log (owner text, token bigint, expires_at timestamptz, acquired_at timestamptz);
CREATE FUNCTION log_lease() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO lease_log VALUES (NEW.owner, NEW.token, NEW.expires_at, NEW.acquired_at);
  RETURN NEW;
END $$;
CREATE TRIGGER lease_log AFTER INSERT OR UPDATE ON streamer_capture_leases
  FOR EACH ROW EXECUTE FUNCTION log_lease();
"""
# a bound on a hang, not on speed: the machine may be loaded
HANG_S = 120.0


def refused(dsn: str, who: object) -> int:
    rows = query(dsn, "SELECT count(*) FROM lease_attempts WHERE who = %s AND NOT got", str(who))
    return int(rows[0][0])  # type: ignore[call-overload]


def test_one_planner_and_standby_takes_over_after_sigkill(
    pg_dsn: str, children: list[Child]
) -> None:
    """The standby plans once the leader is killed, on its first attempt after the lock was
    freed (its poll is its only wait), and never while the leader plans."""
    query(pg_dsn, "CREATE TABLE planner_beats (pid int, at timestamptz DEFAULT clock_timestamp())")
    query(pg_dsn, ATTEMPTS)
    a, b = spawn(children, "planner", pg_dsn), spawn(children, "planner", pg_dsn)

    def planners() -> set[int]:
        return {int(r[0]) for r in query(pg_dsn, "SELECT DISTINCT pid FROM planner_beats")}  # type: ignore[call-overload]

    first = wait_for(planners, timeout=HANG_S, what="a planner")
    leader = a if a.pid in first else b
    standby = b if leader is a else a
    # refused twice while the leader plans: a wrongly elected second planner would show here
    wait_for(lambda: refused(pg_dsn, standby.pid) >= 2, timeout=HANG_S, what="standby polls")
    assert planners() == {leader.pid}, "two processes planned at once"
    (holder,) = query(
        pg_dsn,
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database ="
        " (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    leader.kill()  # SIGKILL: no clean-up runs; the kernel closes its socket
    wait_for(
        lambda: not query(pg_dsn, "SELECT 1 FROM pg_locks WHERE pid = %s", holder[0]),
        timeout=HANG_S,
        what="the killed leader's lock to be freed",
    )
    freed_by = query(pg_dsn, "SELECT clock_timestamp()")[0][0]
    wait_for(lambda: standby.pid in planners(), timeout=HANG_S, what="the standby to plan")
    # every attempt of the standby that began after the lock was free got it
    late = query(
        pg_dsn,
        "SELECT count(*) FROM lease_attempts WHERE who = %s AND NOT got AND began >= %s",
        str(standby.pid),
        freed_by,
    )[0][0]
    assert late == 0, "the standby was refused a free lock"
    # never two at once: no beat of the old leader after the new one's first
    overlap = query(
        pg_dsn,
        "SELECT count(*) FROM planner_beats WHERE pid = %s AND at >"
        " (SELECT min(at) FROM planner_beats WHERE pid = %s)",
        leader.pid,
        standby.pid,
    )[0][0]
    assert overlap == 0


def capture_tables(dsn: str) -> None:
    asyncio.run(ensure_schema(dsn))
    query(
        dsn,
        "CREATE TABLE capture_writes (owner text, token bigint, n int,"
        " at timestamptz DEFAULT clock_timestamp())",
    )
    query(dsn, ATTEMPTS)
    query(dsn, LEASE_LOG)


# long enough that a loaded machine does not delay a renewal past the holder's local deadline
TTL_S = 5.0


def test_capture_lease_passes_on_after_sigkill_within_ttl(
    pg_dsn: str, children: list[Child]
) -> None:
    """On the lease's own clock (the database's): the killed holder's lease expired within
    the TTL of the kill, and the standby took it at its first attempt after that expiry,
    with the next fencing token."""
    capture_tables(pg_dsn)
    a = spawn(children, "capture", pg_dsn, "b1", str(TTL_S))
    wait_for(lambda: query(pg_dsn, "SELECT 1 FROM capture_writes"), HANG_S, "the first capture")
    b = spawn(children, "capture", pg_dsn, "b1", str(TTL_S))
    a_owner, b_owner = f"proc:{a.pid}", f"proc:{b.pid}"
    # b asked and was refused: it must not write while a holds the lease
    wait_for(lambda: refused(pg_dsn, b_owner) >= 2, timeout=HANG_S, what="b's refused attempts")
    owners = {r[0] for r in query(pg_dsn, "SELECT DISTINCT owner FROM capture_writes")}
    assert owners == {a_owner}
    a.kill()
    killed_by = query(pg_dsn, "SELECT clock_timestamp()")[0][0]
    wait_for(
        lambda: query(pg_dsn, "SELECT 1 FROM capture_writes WHERE owner = %s", b_owner),
        timeout=HANG_S,
        what="the standby to capture",
    )
    rows = query(
        pg_dsn,
        "SELECT owner, min(token), max(token), min(at) FROM capture_writes GROUP BY owner"
        " ORDER BY min(at)",
    )
    (_, ta, _, _), (_, tb, _, b_first) = rows
    assert tb == int(ta) + 1  # type: ignore[call-overload]  # the fencing token moved on
    expired = query(pg_dsn, "SELECT max(expires_at) FROM lease_log WHERE owner = %s", a_owner)
    a_expiry = expired[0][0]
    # a's last renewal came before the kill: its lease ran out within the TTL of it
    assert a_expiry <= killed_by + timedelta(seconds=TTL_S), (a_expiry, killed_by)  # type: ignore[operator]
    (b_acquired,) = query(
        pg_dsn, "SELECT min(acquired_at) FROM lease_log WHERE owner = %s", b_owner
    )[0]
    assert a_expiry <= b_acquired <= b_first  # type: ignore[operator]  # not before expiry
    late = query(
        pg_dsn,
        "SELECT count(*) FROM lease_attempts WHERE who = %s AND NOT got AND began >= %s",
        b_owner,
        a_expiry,
    )[0][0]
    assert late == 0, "the standby was refused an expired lease"


def test_a_worker_that_lost_its_lease_stops_writing(pg_dsn: str, children: list[Child]) -> None:
    capture_tables(pg_dsn)
    a = spawn(children, "capture", pg_dsn, "b1", str(TTL_S))
    wait_for(lambda: query(pg_dsn, "SELECT 1 FROM capture_writes"), HANG_S, "the first capture")
    a.proc.send_signal(signal.SIGSTOP)  # frozen (a long GC pause, a suspended VM): it cannot renew
    b = spawn(children, "capture", pg_dsn, "b1", str(TTL_S))
    b_owner = f"proc:{b.pid}"
    wait_for(
        lambda: query(pg_dsn, "SELECT 1 FROM capture_writes WHERE owner = %s", b_owner),
        timeout=HANG_S,
        what="the standby to capture",
    )
    a.proc.send_signal(signal.SIGCONT)  # back, with a lease that passed on while it slept
    a.expect("lost", timeout=HANG_S)
    assert a.proc.wait(timeout=HANG_S) == 3
    late = query(
        pg_dsn,
        "SELECT count(*) FROM capture_writes WHERE owner = %s AND at >="
        " (SELECT min(at) FROM capture_writes WHERE owner = %s)",
        f"proc:{a.pid}",
        b_owner,
    )[0][0]
    assert late == 0, "the old owner wrote after the takeover"


def test_fence_refuses_a_stale_token(pg_dsn: str) -> None:
    async def scenario() -> None:
        await ensure_schema(pg_dsn)
        mine = CaptureLeases(pg_dsn, "w1", ttl_s=60)
        theirs = CaptureLeases(pg_dsn, "w2", ttl_s=60)
        lease = await mine.acquire("b1")
        assert lease is not None and lease.token == 1
        assert await theirs.acquire("b1") is None  # held: no takeover
        again = await mine.acquire("b1")  # our own lease: renewed, same token
        assert again is not None and again.token == 1
        await mine.release(lease)
        taken = await theirs.acquire("b1")
        assert taken is not None and taken.token == 2
        assert await mine.renew(lease) is None
        conn = await psycopg.AsyncConnection.connect(pg_dsn, autocommit=False)
        async with conn:
            with pytest.raises(LeaseLost):
                async with fenced(conn, lease):
                    pass
            async with fenced(conn, taken):
                pass

    asyncio.run(scenario())


def test_keeper_stops_on_its_own_when_the_database_is_unreachable() -> None:
    """No renewal gets through: the local deadline ends the lease before the server's expiry."""
    now = [0.0]
    slept: list[float] = []

    class Unreachable(CaptureLeases):
        async def renew(self, lease: object) -> None:  # type: ignore[override]
            raise OSError("connection timed out")

    async def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    from datetime import UTC, datetime

    from streamer.distributed.leases import Lease

    leases = Unreachable("postgresql://unused", "w1", ttl_s=30)
    keeper = LeaseKeeper(
        leases, Lease("b1", "w1", 1, datetime.now(UTC)), clock=lambda: now[0], sleep=sleep
    )
    asyncio.run(keeper.run())
    assert not keeper.valid() and keeper.lost.is_set()
    assert now[0] <= 24  # 30 s less the margin: stopped before the server would hand the lease on
    with pytest.raises(LeaseLost):
        keeper.check()


def test_planner_lease_is_exclusive_and_freed_on_release(pg_dsn: str) -> None:
    async def scenario() -> None:
        one, two = PlannerLease(pg_dsn), PlannerLease(pg_dsn)
        assert await one.try_acquire()
        assert not await two.try_acquire()
        assert await one.still_held()
        await one.release()
        assert await two.try_acquire()
        assert await two.still_held()
        await two.release()

    asyncio.run(scenario())
