"""A restart inside a live broadcast resumes its capture without announcing a new go-live."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streamer.config import Settings
from streamer.pipeline import capture_task
from streamer.pipeline.capture_task import Captures
from streamer.pipeline.states import BroadcastState
from streamer.pipeline.store import Store
from streamer.youtube import Resolver
from tests.pipeline.test_states_store import program


def test_a_resumed_capture_marks_its_broadcast_live_event_as_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    store = Store(settings.db_url)
    store.sync_program(program("a"))
    # the service was killed while the broadcast was live
    store.set_broadcast_state("forum", "day1", BroadcastState.WATCHING)
    store.set_broadcast_state("forum", "day1", BroadcastState.LIVE)

    async def recorded(*_: Any, **__: Any) -> SimpleNamespace:
        done = SimpleNamespace(
            state="ended", reason="ENDLIST", segments=3, bytes=30, gaps=0, info=None
        )
        return SimpleNamespace(record=done)

    monkeypatch.setattr(capture_task, "record_with_backfill", recorded)
    events: list[tuple[str, dict[str, Any]]] = []

    async def restart() -> None:
        captures = Captures(
            settings,
            store,
            Resolver(settings),
            emit=lambda kind, payload: events.append((kind, payload)),
            on_end=lambda *_: None,
        )
        assert captures.start("forum", "day1")
        await asyncio.wait(list(captures._tasks.values()), timeout=30)

    asyncio.run(restart())
    live = [payload for kind, payload in events if kind == "broadcast.live"]
    assert live == [{"event_id": "forum", "broadcast_id": "day1", "resumed": True}]
