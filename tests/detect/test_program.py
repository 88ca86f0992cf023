"""The simulated programme: its truth, its schedule, and a recording that split can read."""

from __future__ import annotations

from datetime import timedelta

from streamer.schedule.load import load_program
from streamer.simulate.program import BreakKind, DaySpec, plan_day
from streamer.split.plan import plan_session
from tests.detect.conftest import Rendered


def test_a_real_sized_day_keeps_its_promises() -> None:
    """8 talks, breaks of 20-90 s, each talk 0-12 min late against a minute-grid schedule."""
    for seed in range(20):
        day = plan_day(DaySpec(seed=seed))
        assert len(day.talks) == 8
        for talk, after in zip(day.talks, day.talks[1:], strict=False):
            gap = (after.true_start - talk.true_end).total_seconds()
            assert 20 <= gap <= 90
            assert talk.scheduled_end == after.scheduled_start
        for talk in day.talks:
            assert 0 <= talk.late_s <= 12 * 60 + 60  # the grid rounds down by < 1 min
            assert talk.scheduled_start.second == 0
        assert day.recording_start < day.talks[0].true_start
        assert day.talks[-1].true_end < day.recording_end
        assert max(t.late_s for t in day.talks) > 60  # lateness is really drawn


def test_the_day_is_seeded() -> None:
    assert plan_day(DaySpec(seed=4)).truth() == plan_day(DaySpec(seed=4)).truth()
    assert plan_day(DaySpec(seed=4)).truth() != plan_day(DaySpec(seed=5)).truth()


def test_back_to_back_talks_have_no_break() -> None:
    day = plan_day(DaySpec(kinds=(BreakKind.NONE,), seed=1))
    for talk, after in zip(day.talks, day.talks[1:], strict=False):
        assert after.true_start == talk.true_end


def test_the_recording_is_one_complete_timeline(slate_day: Rendered) -> None:
    """What split reads: one part, no gaps, the whole day; its schedule YAML loads."""
    tl = slate_day.timeline
    assert len(tl.parts()) == 1 and tl.gaps() == []
    assert tl.start == slate_day.day.recording_start
    assert tl.end is not None
    assert abs((tl.end - slate_day.day.recording_end).total_seconds()) < 2.5
    program = load_program(slate_day.schedule)
    assert [s.id for s in program.sessions] == [t.id for t in slate_day.day.talks]
    talk = slate_day.day.talks[1]
    plan = plan_session(
        tl, program, talk.id, start=talk.true_start, end=talk.true_end - timedelta(seconds=1)
    )
    assert plan.status == "complete"
