from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streamer.errors import IllegalTransition, NotFoundError, StateError
from streamer.pipeline import states
from streamer.pipeline.store import Store
from streamer.schedule.model import Broadcast, Event, Program, Session

KST = ZoneInfo("Asia/Seoul")
T0 = datetime(2021, 4, 27, 9, 30, tzinfo=KST)


def program(*session_ids: str, record: bool = True) -> Program:
    sessions = [
        Session(
            id=sid,
            broadcast="day1",
            start=T0 + timedelta(minutes=30 * i),
            end=T0 + timedelta(minutes=30 * i + 25),
            title={"ko": f"세션 {i}", "en": f"Session {i}"},
            record=record,
        )
        for i, sid in enumerate(session_ids)
    ]
    return Program(
        event=Event(id="forum", title={"ko": "포럼", "en": "Forum"}, timezone="Asia/Seoul"),
        broadcasts=[
            Broadcast(
                id="day1",
                url="https://example.org/live.m3u8",
                start=T0,
                end=T0 + timedelta(hours=8),
            )
        ],
        sessions=sessions,
    )


def test_every_state_has_a_row_and_illegal_moves_are_refused() -> None:
    assert set(states.SESSION_TRANSITIONS) == set(states.SessionState)
    assert set(states.BROADCAST_TRANSITIONS) == set(states.BroadcastState)
    with pytest.raises(IllegalTransition, match="cannot go from planned to published"):
        states.check_session("planned", "published")
    with pytest.raises(IllegalTransition, match="cannot go from ended to missing"):
        states.check_broadcast("ended", "missing")
    with pytest.raises(IllegalTransition, match="unknown session state"):
        states.check_session("planned", "exploded")
    assert states.check_session("splitting", "publishing") == "publishing"


def test_store_refuses_illegal_transition_and_keeps_reason(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.sync_program(program("a"))
    with pytest.raises(IllegalTransition):
        store.set_session_state("forum", "a", "published")
    assert store.session("forum", "a").state == "planned"
    store.set_session_state("forum", "a", "splitting")
    store.set_session_state("forum", "a", "failed", "missing: no recording", attempts=1)
    view = store.session("forum", "a")
    assert (view.state, view.reason, view.attempts) == ("failed", "missing: no recording", 1)
    log = store.log()
    assert log[0]["to"] == "failed" and log[0]["reason"] == "missing: no recording"
    with pytest.raises(StateError, match="not a session field"):
        store.set_session_state("forum", "a", "failed", bogus=1)


def test_sync_reports_added_changed_removed_and_keeps_published(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert store.sync_program(program("a", "b", "c")).added == ["a", "b", "c"]
    # publish c so that its removal from the schedule keeps it
    for target in ("splitting", "publishing", "published"):
        store.set_session_state("forum", "c", target)
    changed = program("a", "b", "c")
    moved = changed.sessions[1].model_copy(
        update={"end": changed.sessions[1].end + timedelta(minutes=3)}
    )
    newer = changed.model_copy(update={"sessions": [changed.sessions[0], moved]})
    diff = store.sync_program(newer)
    assert diff.changed == ["b"] and diff.removed == [] and diff.kept == ["c"]
    assert store.session("forum", "b").end == moved.end
    diff = store.sync_program(program("a"))
    assert diff.removed == ["b"] and diff.kept == ["c"]
    with pytest.raises(NotFoundError):
        store.session("forum", "b")
    assert store.session("forum", "c").state == "published"


def test_record_false_is_skipped_and_times_stay_aware(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.sync_program(program("a", record=False))
    view = store.session("forum", "a")
    assert view.state == "skipped"
    assert view.start == T0 and view.start.utcoffset() is not None
    rebuilt = store.program("forum")
    assert rebuilt.session("a").title["ko"] == "세션 0"
    assert rebuilt.broadcast("day1").url == "https://example.org/live.m3u8"


def test_corrections_latest_wins_and_find_session(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.sync_program(program("a"))
    store.add_correction("forum", "a", T0, None)
    store.add_correction("forum", "a", None, T0 + timedelta(minutes=50))
    assert store.correction("forum", "a") == (None, T0 + timedelta(minutes=50))
    assert store.find_session("a").id == "a"
    assert store.find_session("forum.a").id == "a"
    with pytest.raises(NotFoundError, match="unknown session"):
        store.find_session("zzz")
