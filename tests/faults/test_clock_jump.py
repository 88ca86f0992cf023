"""The clock jumps one hour forward and back (injected): no session is skipped, cut twice or
published twice.

The planned process jobs run on the wall clock, so a jump makes them fire at the wrong time;
the test fires them at every jump, as a jumped scheduler would, and runs the real split and
publish stages on a real recording that grows as capture goes on.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from streamer.capture.timeline import TimelineWriter
from streamer.pipeline import processing, rows, stages, store
from streamer.pipeline.processing import Hooks, Processor
from streamer.pipeline.runner import InProcessRunner
from streamer.pipeline.states import BroadcastState, SessionState
from streamer.pipeline.store import SessionView
from streamer.publish.catalog import read_index
from streamer.publish.open import open_storage
from tests.split.conftest import at

from .conftest import EVENT, SESSIONS, Pipeline, make_pipeline

HOUR = timedelta(hours=1)


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def test_clock_jumps_forward_and_back(
    pipeline: Pipeline, hls_source: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pipeline.settings.model_copy(
        update={"grace_s": 10.0, "data_dir": pipeline.settings.data_dir.parent / "jump"}
    )
    p = make_pipeline(settings, hls_source[:2])  # captured so far: 0-4 s of the broadcast
    p.store.set_broadcast_state(EVENT, "day1", BroadcastState.LIVE)  # and still live
    clock = Clock(at(3))
    for module in (processing, stages, store, rows):
        monkeypatch.setattr(module, "now", clock.now)
    cuts: Counter[str] = Counter()
    real_split = stages.split_session

    def split_session(*args: Any, **kw: Any) -> Any:
        cuts[args[2]] += 1
        return real_split(*args, **kw)

    monkeypatch.setattr(stages, "split_session", split_session)
    planned: list[tuple[str, str]] = []

    def plan(s: SessionView) -> None:
        planned.append(("plan", s.id))

    def later(s: SessionView, when: datetime) -> None:
        planned.append(("later", s.id))

    def noop(*_: Any) -> None:
        return None

    processor = Processor(
        settings,
        p.store,
        InProcessRunner(),
        Hooks(plan=plan, retry=noop, settled=noop, later=later),
    )

    def fire_all() -> dict[str, str]:
        async def go() -> None:
            for sid in SESSIONS:
                await processor.process(EVENT, sid)

        asyncio.run(go())
        return {sid: p.store.session(EVENT, sid).state.value for sid in SESSIONS}

    # +1 h: every session looks long over, but capture has not covered them: not cut
    clock.t += HOUR
    before = fire_all()
    assert not cuts and planned == [("later", "s1"), ("later", "s2")], planned
    assert set(before.values()) == {SessionState.PLANNED.value}
    # back: too early again, planned for their end
    clock.t -= HOUR
    planned.clear()
    fire_all()
    assert not cuts and planned == [("plan", "s1"), ("plan", "s2")]

    # capture goes on to the end of the broadcast
    with TimelineWriter(p.recording) as writer:
        writer.start()
        offset = 4.0
        for seq, (path, dur) in enumerate(hls_source[2:], start=2):
            writer.write_segment(1, seq, path.read_bytes(), at(offset), dur, True)
            offset += dur
        writer.end("ended", "ENDLIST")
    p.store.set_broadcast_state(EVENT, "day1", BroadcastState.ENDED)
    clock.t = at(12) + timedelta(seconds=settings.grace_s)
    assert fire_all() == {"s1": "published", "s2": "published"}
    # and the jumps again, with every job firing once more on each side
    for jump in (HOUR, -HOUR, -HOUR, HOUR):
        clock.t += jump
        assert fire_all() == {"s1": "published", "s2": "published"}

    assert cuts == {"s1": 1, "s2": 1}  # each cut once
    posts = [q[1]["session_id"] for q in p.store.take_posts() if q[0] == "session.published"]
    assert sorted(posts) == ["s1", "s2"]  # each published once
    index = read_index(open_storage(settings), EVENT)
    assert index is not None
    assert [(i["session_id"], i["version"]) for i in index["items"]] == [("s1", 1), ("s2", 1)]
    for i in index["items"]:  # whole sessions: nothing skipped inside either
        assert i["status"] == "complete" and i["coverage"] == 1.0, i
