"""Which published sessions a heal makes due for a re-cut (``pipeline/reheal.py``): an
incomplete session published before the recording's last fill, once per fill; also when the
fill came from ``streamer heal`` run by hand (it only leaves ``recording.json`` behind)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from streamer.pipeline.reheal import HealWatch
from streamer.pipeline.states import SessionState
from streamer.pipeline.store import Store
from streamer.timeutil import iso, now
from tests.pipeline.test_states_store import program

S = SessionState


def _publish(store: Store, session_id: str, state: SessionState, at: datetime) -> None:
    for step in (S.SPLITTING, S.PUBLISHING):
        store.set_session_state("forum", session_id, step)
    store.set_session_state("forum", session_id, state, published_at=at, vod_version=1)


def _heal_meta(directory: Path, filled_at: datetime | None) -> None:
    heal = {"at": iso(now()), "filled_at": iso(filled_at) if filled_at else None}
    (directory / "recording.json").write_text(json.dumps({"heal": heal}), "utf-8")


def test_incomplete_sessions_published_before_the_last_fill_are_due_once(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.sync_program(program("a", "b", "c"))
    rec = tmp_path / "rec"
    rec.mkdir()
    store.save_recording("forum", "day1", dir=str(rec))
    t = now()
    _publish(store, "a", S.INCOMPLETE, t - timedelta(minutes=5))
    _publish(store, "b", S.PUBLISHED, t - timedelta(minutes=5))  # complete: nothing to fill
    _publish(store, "c", S.INCOMPLETE, t + timedelta(minutes=1))  # cut after the fill
    watch = HealWatch()

    def due() -> list[str]:
        return [s.id for s in watch.due(store, store.sessions())]

    assert due() == []  # no heal yet
    _heal_meta(rec, None)  # a heal that added nothing
    assert due() == []
    _heal_meta(rec, t)  # e.g. `streamer heal DIR` by hand
    assert due() == ["a"]
    assert due() == []  # handed out once, even while its re-cut is still queued
    (rec / "recording.json").write_text("{torn", "utf-8")
    assert due() == []  # a torn file is no fill (and no crash)
    _heal_meta(rec, t + timedelta(minutes=2))  # a later fill: both are due again
    assert due() == ["a", "c"]
