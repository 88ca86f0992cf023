"""Windows mapped through the timeline: pieces, gaps, coverage, status, reasons."""

from __future__ import annotations

import pytest

from streamer.capture.timeline import Timeline
from streamer.errors import SplitError
from streamer.split.chapters import chapters_text, stamp
from streamer.split.plan import plan_session
from tests.split.conftest import Recording, at, make_program


def test_complete_window_is_one_piece(recording: Recording) -> None:
    plan = plan_session(Timeline.load(recording.directory), recording.program, "mid")
    assert plan.status == "complete" and plan.coverage == 1.0 and plan.gaps == []
    assert len(plan.pieces) == 1
    piece = plan.pieces[0]
    assert piece.offset_in == pytest.approx(1.3)  # 5.3 s into the file that starts at 4 s
    assert piece.duration_s == pytest.approx(8.4)


def test_gap_makes_incomplete_with_share_and_reason(recording: Recording) -> None:
    plan = plan_session(Timeline.load(recording.directory), recording.program, "gap")
    assert plan.status == "incomplete"
    assert [(g.start, g.end) for g in plan.gaps] == [(at(16), at(20))]
    assert plan.coverage == pytest.approx((12.6 - 4) / 12.6, abs=1e-3)
    assert len(plan.pieces) == 2
    assert "incomplete: 68.3%" in plan.reason and "10:00:16-10:00:20 KST" in plan.reason


def test_part_boundary_gives_two_pieces_without_gap(recording: Recording) -> None:
    plan = plan_session(Timeline.load(recording.directory), recording.program, "part")
    assert plan.status == "complete" and plan.gaps == []
    assert [p.part for p in plan.pieces] == [1, 2]
    assert sum(p.duration_s for p in plan.pieces) == pytest.approx(11.8)


def test_missing_has_clear_reason(recording: Recording) -> None:
    plan = plan_session(Timeline.load(recording.directory), recording.program, "missing")
    assert plan.status == "missing" and plan.coverage == 0.0 and plan.pieces == []
    assert plan.reason.startswith("missing: no recording covers 10:02-10:03 KST")


def test_leading_uncovered_time_is_a_gap(recording: Recording) -> None:
    plan = plan_session(Timeline.load(recording.directory), recording.program, "edge")
    assert plan.status == "incomplete"
    assert plan.gaps[0].start == at(-10) and plan.gaps[0].end == at(0)
    assert plan.coverage == pytest.approx(3.3 / 13.3, abs=1e-3)


def test_corrections_and_pad_override_the_schedule(recording: Recording) -> None:
    timeline = Timeline.load(recording.directory)
    plan = plan_session(timeline, recording.program, "missing", start=at(30), end=at(34), pad_s=1.0)
    assert (plan.start, plan.end) == (at(29), at(35))
    assert plan.scheduled_start == at(120) and plan.status == "complete"
    with pytest.raises(SplitError, match="before it starts"):
        plan_session(timeline, recording.program, "mid", start=at(10), end=at(9))
    with pytest.raises(SplitError, match="no session"):
        plan_session(timeline, recording.program, "nope")


def test_fingerprint_follows_window_and_mode(recording: Recording) -> None:
    timeline = Timeline.load(recording.directory)
    a = plan_session(timeline, recording.program, "mid")
    b = plan_session(timeline, recording.program, "mid", pad_s=0.5)
    assert a.fingerprint("exact") == plan_session(timeline, recording.program, "mid").fingerprint(
        "exact"
    )
    assert a.fingerprint("exact") != b.fingerprint("exact")
    assert a.fingerprint("exact") != a.fingerprint("copy")


def test_chapters_start_at_zero_relative_to_actual_start(recording: Recording) -> None:
    timeline = Timeline.load(recording.directory)
    program = make_program([("b", 50.0, 58.0), ("a", 5.0, 50.0), ("late", 4000.0, 4100.0)])
    text = chapters_text(timeline, program, "day1", lang="en")
    # "late" starts after the recording ended: left out
    assert text == "00:00 Opening\n00:05 Session a\n00:50 Session b\n"
    program = make_program([("first", -30.0, 10.0), ("next", 12.0, 20.0)])
    assert chapters_text(timeline, program, "day1").splitlines() == [
        "00:00 세션 first",
        "00:12 세션 next",
    ]
    assert stamp(3725.9) == "1:02:05" and stamp(59) == "00:59"
