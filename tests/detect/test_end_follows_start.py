"""An end no person gave is searched around the predicted end, but never after the next
session's known start: that talk has begun."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from streamer.capture.timeline import Timeline
from streamer.detect import Analysis, Break, Edge, Mark, Signal, suggest_sessions
from streamer.detect import Settings as DetectSettings
from streamer.detect.delay import predict
from streamer.schedule.load import program_from_data
from streamer.schedule.model import Program

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
SETTINGS = DetectSettings(radius_s=15 * 60.0)


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def day() -> Program:
    """Two 20-minute talks, 10:00 and 10:20."""
    return program_from_data(
        {
            "event": {"id": "e", "title": "E", "timezone": "Asia/Seoul"},
            "broadcasts": [{"id": "main", "url": "https://example.org/live",
                            "start": m(0), "end": m(60)}],
            "sessions": [
                {"id": sid, "broadcast": "main", "start": m(a), "end": m(a + 20), "title": sid}
                for sid, a in (("first", 0), ("second", 20))
            ],
        }
    )  # fmt: skip


def brk(start: datetime, seconds: float = 30.0, score: float = 0.9) -> Break:
    end = start + timedelta(seconds=seconds)
    return Break(start, end, score, [Signal("slate", start, score), Signal("slate", end, score)])


def first_of(program: Program, breaks: list[Break], **kw: object) -> tuple[datetime, datetime]:
    out = suggest_sessions(
        Timeline.load(Path("/nonexistent")),
        program,
        [program.session("first"), program.session("second")],
        settings=SETTINGS,
        analysis=Analysis(windows=[], breaks=breaks, changes=[], media_s=0.0),
        **kw,  # type: ignore[arg-type]
    )
    return out[0].start, out[0].end


def test_the_next_known_start_caps_the_end_search() -> None:
    program = day()
    # the second talk is marked as starting 10:18, early: the first ended at the break before
    # it (10:17:30), not at the one at 10:21 nearer its scheduled end (inside the second talk)
    breaks = [brk(m(17.5)), brk(m(21))]
    marks = [Mark("second", Edge.START, m(18))]
    assert first_of(program, breaks, marks=marks)[1] == m(17.5)
    # a caller that knows the bound (the review of one session) passes it
    alone = suggest_sessions(
        Timeline.load(Path("/nonexistent")),
        program,
        [program.session("first")],
        settings=SETTINGS,
        analysis=Analysis(windows=[], breaks=breaks, changes=[], media_s=0.0),
        bounds={"first": m(18)},
    )[0]
    assert alone.end == m(17.5)
    # without the bound the end runs on past the second talk's start
    assert first_of(program, breaks)[1] == m(21)


def test_the_predicted_end_stops_at_the_next_known_start() -> None:
    program = day()
    first, second = program.sessions
    tz = ZoneInfo("Asia/Seoul")
    out = predict(program.sessions, {first.id: m(10), second.id: m(25)}, tz)
    assert (out["first"].start, out["first"].end, out["first"].bound) == (m(10), m(25), m(25))
    assert (out["second"].start, out["second"].end, out["second"].bound) == (m(25), m(45), None)
    late = predict(program.sessions, {first.id: m(10), second.id: m(35)}, tz)
    assert late["first"].end == m(30)  # the next start is later: the scheduled length holds
