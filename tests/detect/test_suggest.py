"""Suggested cuts on simulated days whose true talk boundaries are known."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from streamer.detect import Edge, Mark, Suggestion, analyse_windows, suggest_sessions
from streamer.detect.suggest import windows_for
from streamer.schedule.load import load_program
from tests.detect.conftest import RADIUS_S, SETTINGS, Rendered


def suggest(rendered: Rendered, marks: list[Mark] | None = None) -> list[Suggestion]:
    program = load_program(rendered.schedule)
    return suggest_sessions(
        rendered.timeline, program, program.sessions, settings=SETTINGS, marks=marks
    )


def errors(rendered: Rendered, out: list[Suggestion]) -> list[float]:
    """Seconds between suggestion and truth, for every start and end."""
    errs: list[float] = []
    for s in out:
        talk = rendered.day.talk(s.session.id)
        errs.append((s.start - talk.true_start).total_seconds())
        errs.append((s.end - talk.true_end).total_seconds())
    return errs


def kinds(s: Suggestion) -> set[str]:
    return {g.kind for g in s.signals}


def test_slates_give_cuts_within_two_seconds(slate_day: Rendered) -> None:
    out = suggest(slate_day)
    late = [t.late_s for t in slate_day.day.talks]
    assert max(late) > 20  # the schedule really is wrong
    assert all(abs(e) <= 2.0 for e in errors(slate_day, out)), errors(slate_day, out)
    for s in out:
        assert s.confidence >= 0.75
        assert "slate" in kinds(s)
        assert kinds(s) & {"silence", "noise"}  # near-silence or applause under the slate


def test_plain_silence_gives_cuts_within_two_seconds(silent_day: Rendered) -> None:
    out = suggest(silent_day)
    assert all(abs(e) <= 2.0 for e in errors(silent_day, out)), errors(silent_day, out)
    for s in out:
        assert kinds(s) == {"silence"}
        assert 0.5 <= s.confidence < 0.9


def test_without_a_break_confidence_drops(
    seamless_day: Rendered, slate_day: Rendered, silent_day: Rendered
) -> None:
    out = suggest(seamless_day)
    worst_clear = min(s.confidence for s in suggest(slate_day) + suggest(silent_day))
    for s in out:
        assert s.confidence < 0.5
        assert s.confidence < worst_clear
        assert kinds(s) <= {"scene", "schedule"}
    # a cut in picture and sound still lands near the truth, only less surely
    assert sum(abs(e) <= 10 for e in errors(seamless_day, out)) >= len(out)


def test_marks_always_win(slate_day: Rendered) -> None:
    talk = slate_day.day.talks[1]
    start = talk.true_start + timedelta(seconds=17)
    end = talk.true_end - timedelta(seconds=5)
    marks = [
        Mark(talk.id, Edge.START, start, by="kim"),
        Mark(talk.id, Edge.END, end, by="kim"),
    ]
    out = {s.session.id: s for s in suggest(slate_day, marks)}
    marked = out[talk.id]
    assert (marked.start, marked.end, marked.confidence) == (start, end, 1.0)
    assert kinds(marked) == {"mark"}
    # one mark: that edge is exact, the other still comes from the recording
    only = {s.session.id: s for s in suggest(slate_day, [marks[0]])}[talk.id]
    assert only.start == start
    assert abs((only.end - talk.true_end).total_seconds()) <= 2.0
    assert only.confidence < 1.0 and kinds(only) >= {"mark", "slate"}


def test_only_windows_around_boundaries_are_read(slate_day: Rendered) -> None:
    program = load_program(slate_day.schedule)
    tl = slate_day.timeline
    assert tl.start is not None and tl.end is not None
    whole = (tl.end - tl.start).total_seconds()
    narrow = analyse_windows(tl, program.sessions[:1], type(SETTINGS)(radius_s=20.0))
    assert 70 <= narrow.media_s <= 90  # two ±20 s windows (plus the segments they touch)
    assert narrow.media_s < whole / 4
    spans = windows_for(program.sessions, tl, RADIUS_S)
    assert all(a < b for a, b in spans)
    assert all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(spans))


@pytest.mark.parametrize("radius", [5.0])
def test_a_boundary_outside_the_radius_falls_back_to_the_schedule(
    slate_day: Rendered, radius: float
) -> None:
    """Nothing found near the schedule: the schedule, with a confidence near zero."""
    program = load_program(slate_day.schedule)
    late = max(slate_day.day.talks, key=lambda t: t.late_s)
    assert late.late_s > 3 * radius
    session = program.session(late.id)
    out = suggest_sessions(
        slate_day.timeline, program, [session], settings=type(SETTINGS)(radius_s=radius)
    )
    assert out[0].start == session.start
    assert out[0].confidence <= 0.1
