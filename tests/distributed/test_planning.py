"""The elected planner's upkeep in the distributed mode (real PostgreSQL, procrastinate's own
tables): a takeover leaves stages in flight alone and fails only those whose worker stopped;
a broadcast nobody captures is queued again; the media team's stop reaches the lease holder;
the reheal check reads the raw store."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from streamer.capture.timeline import META, TIMELINE
from streamer.config import Settings
from streamer.distributed.app import make_app_for_dsn
from streamer.distributed.capture import capture_under_lease
from streamer.distributed.leases import CaptureLeases
from streamer.distributed.planning import (
    QueuedCaptures,
    RawHealWatch,
    RawStore,
    keep_captures,
    recover_stalled,
)
from streamer.distributed.schema import ensure_schema
from streamer.distributed.tasks import CAPTURE, PROCESS, defer_stage
from streamer.pipeline.states import BroadcastState, SessionState
from streamer.pipeline.store import SessionView, Store
from streamer.publish.memory import MemoryStorage
from streamer.timeutil import iso, now
from streamer.youtube import Resolver
from tests.split.conftest import SESSIONS, make_program


def settings_for(pg_url: str, tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, runner="procrastinate",  # type: ignore[call-arg]
                    database_url=pg_url, watch_lead_s=60, late_limit_s=60)  # fmt: skip


def jobs(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        sql = "SELECT id, task_name, status, args FROM procrastinate_jobs ORDER BY id"
        return list(conn.execute(sql).fetchall())


def test_a_takeover_fails_only_the_stages_whose_worker_stopped(
    pg_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    store = Store(pg_url)
    store.sync_program(make_program(SESSIONS))
    for sid in ("mid", "gap"):  # both caught mid-split by the planner's death
        store.set_session_state("testcon", sid, SessionState.SPLITTING)
    retried: list[SessionView] = []

    async def scenario() -> list[int]:
        await ensure_schema(pg_dsn)
        app = make_app_for_dsn(pg_dsn)
        async with app.open_async():
            live_job = await defer_stage(app, PROCESS, "testcon", "mid")
            dead_job = await defer_stage(app, PROCESS, "testcon", "gap")
            with psycopg.connect(pg_dsn) as conn:
                alive = conn.execute("INSERT INTO procrastinate_workers DEFAULT VALUES"
                                     " RETURNING id").fetchone()  # fmt: skip
                gone = conn.execute("INSERT INTO procrastinate_workers (last_heartbeat)"
                                    " VALUES (now() - interval '10 minutes') RETURNING id"
                                    ).fetchone()  # fmt: skip
                assert alive and gone
                for job, worker in ((live_job, alive[0]), (dead_job, gone[0])):
                    conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s"
                                 " WHERE id = %s", (worker, job))  # fmt: skip
            return await recover_stalled(app, store, retried.append)

    finished = asyncio.run(scenario())
    assert len(finished) == 1
    status = {row[3]["session_id"]: row[2] for row in jobs(pg_dsn)}
    assert status == {"mid": "doing", "gap": "failed"}
    assert store.session("testcon", "mid").state == SessionState.SPLITTING  # left alone
    gap = store.session("testcon", "gap")
    assert gap.state == SessionState.FAILED and "its worker stopped" in (gap.reason or "")
    assert gap.next_try_at is not None and [s.id for s in retried] == ["gap"]


def test_a_broadcast_nobody_holds_is_queued_again_once(
    pg_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = settings_for(pg_url, tmp_path)
    store = Store(pg_url)
    program = make_program(SESSIONS)
    # on air now: its window holds the present
    b = program.broadcasts[0].model_copy(update={"start": now() - timedelta(minutes=5),
                                                 "end": now() + timedelta(minutes=5)})  # fmt: skip
    store.sync_program(program.model_copy(update={"broadcasts": [b], "sessions": []}))
    store.set_broadcast_state("testcon", "day1", BroadcastState.WATCHING)
    store.set_broadcast_state("testcon", "day1", BroadcastState.LIVE)

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        await ensure_schema(pg_dsn)
        app = make_app_for_dsn(pg_dsn)
        async with app.open_async():
            first = await keep_captures(settings, store, app, pg_dsn)
            again = await keep_captures(settings, store, app, pg_dsn)  # the first still waits
            leases = CaptureLeases(pg_dsn, "w1", ttl_s=30)
            assert await leases.acquire("testcon.day1") is not None
            with psycopg.connect(pg_dsn) as conn:
                conn.execute("DELETE FROM procrastinate_jobs")
            held = await keep_captures(settings, store, app, pg_dsn)  # w1 captures it
            return first, again, held

    first, again, held = asyncio.run(scenario())
    assert first == ["testcon.day1"] and again == [] and held == []


def test_the_media_teams_stop_reaches_the_lease_holder(
    pg_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    settings = settings_for(pg_url, tmp_path)
    store = Store(pg_url)
    store.sync_program(make_program(SESSIONS))

    async def scenario() -> tuple[str, bool, bool]:
        await ensure_schema(pg_dsn)
        app = make_app_for_dsn(pg_dsn)
        captures = QueuedCaptures(settings, store, app, pg_dsn, resolver=Resolver(settings),
                                  emit=lambda *_: None, on_end=lambda *_: None)  # fmt: skip
        recording = asyncio.Event()

        async def recorder(stop: asyncio.Event, owned: Any) -> str:
            recording.set()
            await stop.wait()  # a real recorder stops at its next poll
            return "stopped"

        leases = CaptureLeases(pg_dsn, "w1", ttl_s=3)  # renewed every second
        run = asyncio.ensure_future(
            capture_under_lease(
                leases, "testcon.day1", tmp_path / "rec", recorder, storage=None, root="raw"
            )
        )
        await recording.wait()
        stopped = await captures.stop("testcon", "day1")
        done = await asyncio.wait_for(run, 60)
        nobody = await captures.stop("testcon", "day1")  # released: nothing to stop
        return f"{done.outcome} {done.result}", stopped, nobody

    outcome, stopped, nobody = asyncio.run(scenario())
    assert (outcome, stopped, nobody) == ("recorded stopped", True, False)


def test_the_reheal_check_reads_the_raw_store(tmp_path: Path) -> None:
    program = make_program(SESSIONS)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.sync_program(program)
    published = now() - timedelta(minutes=5)
    store.set_session_state("testcon", "mid", SessionState.SPLITTING)
    store.set_session_state("testcon", "mid", SessionState.PUBLISHING)
    store.set_session_state("testcon", "mid", SessionState.INCOMPLETE, published_at=published)
    raw = MemoryStorage()
    watch = RawHealWatch(RawStore(raw, "raw", tmp_path / "cache", every_s=0))
    s = store.session("testcon", "mid")
    assert watch.due(store, [s]) == []  # nothing shipped yet
    raw.put_bytes(
        f"raw/testcon/day1/{TIMELINE}", b"", content_type="application/x-ndjson", cache_control=""
    )
    meta = {"heal": {"filled_at": iso(now())}}
    raw.put_bytes(f"raw/testcon/day1/{META}", json.dumps(meta).encode(),
                  content_type="application/json", cache_control="")  # fmt: skip
    assert [v.id for v in watch.due(store, [s])] == ["mid"]
    assert watch.due(store, [s]) == []  # once per fill
    assert CAPTURE == "streamer.capture_broadcast"  # a stored job name: never renamed
