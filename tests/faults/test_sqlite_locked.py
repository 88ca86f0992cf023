"""The SQLite state file locked by another process (``BEGIN EXCLUSIVE``, as a backup tool or
an operator's ``sqlite3`` shell would hold it): the service waits, then goes on, losing
nothing; past its busy timeout a write fails with a clear StateError, never a raw traceback.

The fast test holds the lock until the stage is seen waiting (a read still works: WAL), then
lets go; the slow one holds it for the full 30 s of the issue.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streamer.errors import StateError
from streamer.pipeline import capture_task, stages
from streamer.pipeline.capture_task import Captures
from streamer.pipeline.db_writes import DbWrites
from streamer.pipeline.states import BroadcastState, SessionState
from streamer.pipeline.store import BUSY_TIMEOUT_S, Store
from streamer.publish.catalog import read_index
from streamer.publish.open import open_storage
from streamer.youtube import Resolver

from .conftest import EVENT, SESSIONS, Pipeline

HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
hold = float(sys.argv[2])
time.sleep(hold) if hold > 0 else sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""


class Lock:
    """Another process holding ``BEGIN EXCLUSIVE`` on the DB file."""

    def __init__(self, db: Path, hold_s: float = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db), str(hold_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"
        assert self.proc.wait(60) == 0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def db(pipeline: Pipeline) -> Iterator[Path]:
    yield Path(pipeline.settings.db_url.partition(":///")[2])


def run_stages(pipeline: Pipeline, errors: list[BaseException]) -> threading.Thread:
    def go() -> None:
        try:
            for sid in SESSIONS:
                stages.process_stage(pipeline.settings, EVENT, sid)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def check_published(pipeline: Pipeline) -> None:
    states = {sid: pipeline.store.session(EVENT, sid).state for sid in SESSIONS}
    assert states == {sid: SessionState.PUBLISHED for sid in SESSIONS}
    index = read_index(open_storage(pipeline.settings), EVENT)
    assert index is not None
    assert [(i["session_id"], i["version"]) for i in index["items"]] == [("s1", 1), ("s2", 1)]
    posts = [p[1]["session_id"] for p in pipeline.store.take_posts() if p[0] == "session.published"]
    assert posts == ["s1", "s2"]


def test_a_lock_is_waited_out(pipeline: Pipeline, db: Path) -> None:
    assert BUSY_TIMEOUT_S >= 2 * 30  # a 30 s lock is well inside what a write waits
    lock = Lock(db)
    try:
        errors: list[BaseException] = []
        thread = run_stages(pipeline, errors)
        thread.join(2.0)
        # still waiting for its first write (reads go on meanwhile: WAL)
        assert thread.is_alive() and not errors
        assert pipeline.store.session(EVENT, "s1").state == SessionState.PLANNED
        lock.release()
        thread.join(120)
        assert not thread.is_alive() and not errors, errors
    finally:
        lock.close()
    check_published(pipeline)


@pytest.mark.slow
def test_a_30s_lock_is_waited_out(pipeline: Pipeline, db: Path) -> None:
    lock = Lock(db, hold_s=30)
    try:
        errors: list[BaseException] = []
        thread = run_stages(pipeline, errors)
        thread.join(180)
        assert not thread.is_alive() and not errors, errors
        assert lock.proc.wait(60) == 0
    finally:
        lock.close()
    check_published(pipeline)


def test_a_lock_past_the_busy_timeout_is_a_clear_error(pipeline: Pipeline, db: Path) -> None:
    impatient = Store(pipeline.settings.db_url, busy_timeout_s=0.2)  # the budget, scaled down
    lock = Lock(db)
    try:
        with pytest.raises(StateError, match=r"locked by another process for over 0\.2s"):
            impatient.set_session_state(EVENT, "s1", SessionState.WAITING)
        assert impatient.session(EVENT, "s1").state == SessionState.PLANNED  # nothing half-done
        lock.release()
    finally:
        lock.close()
    impatient.set_session_state(EVENT, "s1", SessionState.WAITING)
    assert impatient.session(EVENT, "s1").state == SessionState.WAITING
    impatient.close()


def test_a_locked_db_does_not_stall_capture(
    pipeline: Pipeline, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Capture's state writes (the live mark, progress rows) wait for the lock on a thread of
    their own: the event loop goes on fetching segments meanwhile, and the progress written
    while the lock was held lands once it is released (coalesced: one write, not forty)."""
    store = pipeline.store
    store.set_broadcast_state(EVENT, "day1", BroadcastState.WATCHING)
    fetched_while_locked = threading.Event()
    release = asyncio.Event()
    seen: dict[str, Any] = {}
    writes_on: set[str] = set()
    real_save = Store.save_recording

    def save(self: Store, *args: Any, **fields: Any) -> None:
        writes_on.add(threading.current_thread().name)
        real_save(self, *args, **fields)

    monkeypatch.setattr(Store, "save_recording", save)

    async def recorder(*_: Any, on_progress: Any, **__: Any) -> SimpleNamespace:
        # the "source": 40 segments, each one a trip through the loop
        for n in range(1, 41):
            on_progress(SimpleNamespace(segments=n, bytes=1000 * n, gaps=0, status="recording"))
            await asyncio.sleep(0)
        seen["fetched"] = 40
        fetched_while_locked.set()
        await release.wait()  # the test thread lets the lock go
        await captures.flush()
        row = store.recording(EVENT, "day1")
        seen["progress"] = (row.segments, row.bytes) if row else None
        done = SimpleNamespace(
            state="ended", reason="ENDLIST", segments=40, bytes=40000, gaps=0, info=None
        )
        return SimpleNamespace(record=done)

    monkeypatch.setattr(capture_task, "record_with_backfill", recorder)
    captures = Captures(
        pipeline.settings,
        store,
        Resolver(pipeline.settings),
        emit=lambda *_: None,
        on_end=lambda *_: None,
        writes=DbWrites(),
    )
    b = store.broadcast(EVENT, "day1")
    loop = asyncio.new_event_loop()
    until = b.end + timedelta(hours=1)
    task = loop.create_task(
        captures._record(b, pipeline.recording, lambda: until, asyncio.Event())
    )
    lock = Lock(db)
    try:
        runner = threading.Thread(target=loop.run_until_complete, args=(task,), daemon=True)
        runner.start()
        # a bound for failing only: the loop must not wait for the lock (the busy timeout
        # is 60 s, so without the writer thread nothing is fetched while it is held)
        assert fetched_while_locked.wait(30), "capture stalled behind the locked state DB"
        assert captures.writes.pending >= 1  # the live mark still waits for the lock
        assert store.broadcast(EVENT, "day1").state == BroadcastState.WATCHING
        lock.release()
        loop.call_soon_threadsafe(release.set)
        runner.join(120)
        assert not runner.is_alive()
    finally:
        lock.close()
    assert task.result().state == "ended"
    loop.close()
    assert seen == {"fetched": 40, "progress": (40, 40000)}
    assert store.broadcast(EVENT, "day1").state == BroadcastState.LIVE
    assert "MainThread" not in writes_on and writes_on  # never on the loop's thread


def test_writes_keep_their_order_and_progress_coalesces() -> None:
    writes = DbWrites()
    gate = threading.Event()
    done: list[Any] = []
    writes.submit(gate.wait)  # the "lock": everything after it waits
    for n in range(1, 6):
        writes.progress("e.b", done.append, segments=n)
    writes.submit(lambda: done.append("ended"), key="e.b")
    writes.progress("e.b", done.append, segments=6)  # after the mark, not merged before it
    assert writes.pending == 4
    gate.set()
    asyncio.run(writes.flush())
    assert done == [{"segments": 5}, "ended", {"segments": 6}]
    writes.close()
