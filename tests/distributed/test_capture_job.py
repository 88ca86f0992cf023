"""The capture job on a worker (real PostgreSQL; the recorder is a stand-in that records until
told to stop): a worker's shutdown stops it as a restart does and frees the lease at once; a
job whose lease is taken over stops and writes nothing more to the state DB."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from streamer.config import Settings
from streamer.distributed.capture_job import RunningCaptures, capture_broadcast
from streamer.distributed.leases import CaptureLeases
from streamer.distributed.schema import ensure_schema
from streamer.pipeline import capture_task
from streamer.pipeline.states import BroadcastState
from streamer.pipeline.store import Store
from tests.split.conftest import SESSIONS, make_program


def scenario(
    pg_url: str, pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, act: str
) -> tuple[str, list[str], Store]:
    settings = Settings(_env_file=None, data_dir=tmp_path, runner="procrastinate",  # type: ignore[call-arg]
                        database_url=pg_url, capture_lease_s=3)  # fmt: skip
    store = Store(pg_url)
    store.sync_program(make_program(SESSIONS))
    store.set_broadcast_state("testcon", "day1", BroadcastState.WATCHING)
    store.set_broadcast_state("testcon", "day1", BroadcastState.LIVE)  # resumed at once
    recording = asyncio.Event()

    async def recorder(*_: Any, stop: asyncio.Event, **__: Any) -> SimpleNamespace:
        recording.set()
        await stop.wait()
        done = SimpleNamespace(state="stopped", reason="stop requested", segments=9, bytes=90,
                               gaps=0, info=None)  # fmt: skip
        return SimpleNamespace(record=done)

    monkeypatch.setattr(capture_task, "record_with_backfill", recorder)
    deferred: list[str] = []
    running = RunningCaptures()

    async def process(event_id: str, session_id: str) -> None:
        deferred.append(session_id)

    async def go() -> str:
        await ensure_schema(pg_dsn)
        job = asyncio.ensure_future(capture_broadcast(
            settings, "testcon", "day1", owner="w1/job1", defer_process=process,
            running=running))  # fmt: skip
        await asyncio.wait_for(recording.wait(), 60)
        if act == "shutdown":
            running.close_all()  # what StreamerWorker.stop does on SIGTERM
        else:  # another worker took the lease over (as after a partition)
            with psycopg.connect(pg_dsn) as conn:
                conn.execute("UPDATE streamer_capture_leases SET owner = 'w2/job7',"
                             " token = token + 1")  # fmt: skip
        return await asyncio.wait_for(job, 60)

    return asyncio.run(go()), deferred, store


def test_a_worker_shutdown_stops_its_capture_as_a_restart_does(
    pg_url: str, pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, deferred, store = scenario(pg_url, pg_dsn, tmp_path, monkeypatch, "shutdown")
    assert outcome == "recorded" and deferred == []  # not over: nothing to process yet
    assert store.broadcast("testcon", "day1").state == BroadcastState.LIVE  # resumable
    # the lease is free at once: another worker need not wait it out
    assert asyncio.run(CaptureLeases(pg_dsn, "w2").holder("testcon.day1")) is None
    rec = store.recording("testcon", "day1")
    assert rec is not None and rec.dir == str(tmp_path / "recordings" / "testcon" / "day1")


def test_a_capture_whose_lease_is_taken_over_writes_nothing_more(
    pg_url: str, pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, deferred, store = scenario(pg_url, pg_dsn, tmp_path, monkeypatch, "takeover")
    assert outcome == "lost" and deferred == []
    b = store.broadcast("testcon", "day1")
    assert b.state == BroadcastState.LIVE  # not "ended": the new owner is capturing it
    rec = store.recording("testcon", "day1")
    assert rec is not None and rec.segments == 0  # the lost capture's count was not stored
    holder = asyncio.run(CaptureLeases(pg_dsn, "w2").holder("testcon.day1"))
    assert holder is not None and holder.owner == "w2/job7"
