"""The data disk fills up (a real ENOSPC: the data dir is a small tmpfs, mounted as root; the
tests skip, saying why, where mounting is not allowed).

During capture: the recorder stops with ``disk full (ENOSPC)``, the timeline names only whole
segments, and a recorder started again once space returns goes on in the same directory: the
timeline only grows. During a split: the session fails with a clear reason (retried, not
final), the recording is untouched, no half-cut VOD is left or published, and the same
session is cut and published once space returns.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streamer.capture.hls import record
from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.pipeline import capture_task, stages
from streamer.pipeline.capture_task import Captures
from streamer.pipeline.states import BroadcastState, SessionState
from streamer.publish.catalog import read_index
from streamer.publish.open import open_storage
from streamer.youtube import Resolver
from tests.conftest import ScriptedLive
from tests.split.conftest import at

from .conftest import EVENT, Pipeline, make_pipeline


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` to the last byte (or to ``leave`` bytes free); the filler's path."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if leave:
            st = os.statvfs(disk)
            os.write(fd, bytes(st.f_bavail * st.f_frsize - leave))
            return filler
        for size in (65536, 4096, 512, 1):  # down to the last byte
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("room", [0, 120_000], ids=["full", "full-mid-cut"])
def test_disk_full_during_split(
    small_disk: Path, tmp_path: Path, hls_source: list[Any], room: int
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=small_disk / "data",
        schedules=tmp_path / "schedules",
        split_mode="exact",
        storage=(tmp_path / "public").as_uri(),  # the store is elsewhere: not full
        # the state DB too (a full disk under SQLite itself: see the module's docstring)
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
    )
    p = make_pipeline(settings, hls_source)
    timeline = (p.recording / "timeline.jsonl").read_bytes()
    filler = fill(small_disk, leave=room)  # room: the cut starts, then hits ENOSPC

    stages.process_stage(settings, EVENT, "s1")  # no exception escapes
    s = p.store.session(EVENT, "s1")
    assert s.state == SessionState.FAILED, s
    assert "No space left on device" in (s.reason or "") or "disk full" in (s.reason or "")
    assert "Traceback" not in (s.reason or "")
    assert s.next_try_at is not None  # retried, not given up
    # nothing half-written: no VOD, no split work left, nothing published
    vods = settings.vods_dir / EVENT
    left = files(vods) if vods.exists() else set()
    assert not {f for f in left if f.endswith((".mp4", ".jpg")) or ".tmp" in f}, left
    assert read_index(open_storage(settings), EVENT) is None
    assert (p.recording / "timeline.jsonl").read_bytes() == timeline  # recording untouched

    filler.unlink()  # space returns: the planned retry cuts and publishes it
    stages.process_stage(settings, EVENT, "s1")
    s = p.store.session(EVENT, "s1")
    assert s.state == SessionState.PUBLISHED, s.reason
    index = read_index(open_storage(settings), EVENT)
    assert index is not None
    [item] = index["items"]
    assert (item["session_id"], item["version"], item["status"]) == ("s1", 1, "complete")
    assert item["duration_s"] == pytest.approx(6.0, abs=0.1)


def whole(rec: Path) -> list[tuple[int, str]]:
    """The timeline's segments, each checked whole on disk; no temp file left beside them."""
    timeline = Timeline.load(rec)
    for seg in timeline.segments:
        assert (rec / seg.file).stat().st_size == seg.bytes, seg
    assert not [p for p in rec.rglob("*") if p.name.endswith(".tmp")]
    return [(seg.seq, seg.file) for seg in timeline.segments]


def test_disk_full_during_capture(
    small_disk: Path, tmp_path: Path, live_segments: list[bytes]
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=small_disk,
        allow_private_sources=True,  # the source is on 127.0.0.1
    )
    rec = small_disk / "rec"
    average = sum(map(len, live_segments[:20])) // 20
    with ScriptedLive(live_segments, window=60) as src:
        filler = fill(small_disk, leave=6 * average)  # room for a few segments only
        full = asyncio.run(record(src.url, rec, settings=settings, duration_s=30, backfill_s=40))
        assert full.state == "failed" and full.reason.startswith("disk full (ENOSPC)"), full
        before = whole(rec)
        assert before, "kept the segments that fit"
        assert Timeline.load(rec).end_state == "failed"

        filler.unlink()  # space returns: capture goes on in the same directory
        again = asyncio.run(record(src.url, rec, settings=settings, duration_s=3, backfill_s=40))
    assert again.state != "failed", again
    after = whole(rec)
    assert after[: len(before)] == before and len(after) > len(before)  # it only grew
    seqs = [seq for seq, _ in after]
    assert len(seqs) == len(set(seqs))  # nothing written twice


def test_the_service_resumes_a_capture_stopped_by_a_full_disk(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorder itself is shown above to resume cleanly; here the service's part: a
    broadcast is not failed for a full disk, it says why and records again."""
    settings = pipeline.settings.model_copy(update={"watch_poll_s": 0.01})
    store = pipeline.store
    store.set_broadcast_state(EVENT, "day1", BroadcastState.LIVE)  # a restart while live
    reasons: list[str | None] = []  # the state's reason as each recorder starts
    outcomes = iter(
        [
            ("failed", "disk full (ENOSPC) in /data/rec; kept what was written"),
            ("ended", "ENDLIST"),
        ]
    )

    async def recorder(*_: Any, **__: Any) -> SimpleNamespace:
        reasons.append(store.broadcast(EVENT, "day1").reason)
        state, reason = next(outcomes)
        done = SimpleNamespace(state=state, reason=reason, segments=1, bytes=1, gaps=0, info=None)
        return SimpleNamespace(record=done)

    monkeypatch.setattr(capture_task, "record_with_backfill", recorder)
    marks: list[tuple[str, str | None]] = []
    real_mark = Captures.mark

    def mark(self: Captures, b: Any, target: BroadcastState, reason: str | None) -> Any:
        marks.append((target.value, reason))
        return real_mark(self, b, target, reason)

    monkeypatch.setattr(Captures, "mark", mark)
    # the broadcast's window (and late limit) are long over: a full disk must not end it early
    monkeypatch.setattr(capture_task, "now", lambda: at(0))

    async def go() -> None:
        captures = Captures(
            settings, store, Resolver(settings), emit=lambda *_: None, on_end=lambda *_: None
        )
        assert captures.start(EVENT, "day1")
        await asyncio.wait(list(captures._tasks.values()), timeout=60)

    asyncio.run(go())
    assert len(reasons) == 2  # recorded again
    said = [r for state, r in marks if state == "live" and r and r.startswith("disk full")]
    assert said == [
        "disk full (ENOSPC) in /data/rec; kept what was written; trying again every 0.01s"
    ], marks
    assert "failed" not in [state for state, _ in marks]
    b = store.broadcast(EVENT, "day1")
    assert b.state == BroadcastState.ENDED, (b.state, b.reason)


def test_a_full_disk_under_the_state_db_does_not_stop_a_capture(
    small_disk: Path,
    tmp_path: Path,
    hls_source: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The default layout: the state DB is on the data disk too, so while it is full no state
    can be saved. The capture goes on (the timeline is the truth), says why in the log, and
    the state catches up once space returns."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=small_disk / "data",
        schedules=tmp_path / "schedules",
        watch_poll_s=0.01,
    )
    p = make_pipeline(settings, hls_source)
    p.store.set_broadcast_state(EVENT, "day1", BroadcastState.LIVE)
    filler = fill(small_disk)
    calls: list[int] = []

    async def recorder(*_: Any, **__: Any) -> SimpleNamespace:
        calls.append(1)
        if len(calls) == 1:
            state, reason = "failed", "disk full (ENOSPC) in the recording; kept what was written"
        else:
            filler.unlink()  # space came back while it waited
            state, reason = "ended", "ENDLIST"
        done = SimpleNamespace(state=state, reason=reason, segments=1, bytes=1, gaps=0, info=None)
        return SimpleNamespace(record=done)

    monkeypatch.setattr(capture_task, "record_with_backfill", recorder)
    monkeypatch.setattr(capture_task, "now", lambda: at(0))
    tasks: list[asyncio.Task[None]] = []

    async def go() -> None:
        captures = Captures(
            settings, p.store, Resolver(settings), emit=lambda *_: None, on_end=lambda *_: None
        )
        assert captures.start(EVENT, "day1")
        tasks.extend(captures._tasks.values())
        await asyncio.wait(tasks, timeout=60)

    asyncio.run(go())
    assert all(t.done() and t.exception() is None for t in tasks)  # no traceback
    assert len(calls) == 2
    assert any("not saved" in r.getMessage() for r in caplog.records)  # the DB was full
    assert p.store.broadcast(EVENT, "day1").state == BroadcastState.ENDED
