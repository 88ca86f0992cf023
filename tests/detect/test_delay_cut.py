"""The cut follows the running delay: on a day later than the search radius, the boundary is
searched around the predicted time (the schedule shifted by the delay a start mark gave), and
found; searched around the schedule, it is out of reach."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streamer.config import Settings
from streamer.detect import Edge
from streamer.pipeline.cutchoice import choose_cut
from streamer.pipeline.marks import MarkStore
from streamer.pipeline.store import Store
from streamer.schedule.model import CutPolicy, Program
from tests.detect.conftest import RADIUS_S, Rendered

EARLY = timedelta(seconds=300)  # the schedule says 5 min earlier than what was recorded


def late_program(rendered: Rendered) -> Program:
    """The day's program with every time 5 minutes early: the day runs > radius late."""
    program = rendered.day.program()
    return program.model_copy(
        update={
            "event": program.event.model_copy(update={"cut_policy": CutPolicy.AUTO}),
            "broadcasts": [
                b.model_copy(update={"start": b.start - EARLY, "end": b.end - EARLY})
                for b in program.broadcasts
            ],
            "sessions": [
                s.model_copy(update={"start": s.start - EARLY, "end": s.end - EARLY})
                for s in program.sessions
            ],
        }
    )


@pytest.mark.parametrize("marked", [True, False])
def test_a_late_day_is_cut_around_the_predicted_time(
    slate_day: Rendered, settings: Settings, marked: bool
) -> None:
    program = late_program(slate_day)
    store = Store(settings.db_url)
    store.sync_program(program)
    first, third = slate_day.day.talks[0], slate_day.day.talks[2]
    if marked:  # the opening's real start is known: the later talks shift with it
        MarkStore(store).add(first.id, Edge.START, first.true_start, by="kim", source="test")
    choice = choose_cut(
        store, program, third.id, slate_day.directory, radius_s=RADIUS_S, threshold=0.5
    )
    store.close()
    if marked:
        assert choice.start is not None and choice.end is not None
        assert abs((choice.start - third.true_start).total_seconds()) <= 2.0, choice
        # the end is a real break too (on these 1-minute talks more than one is in reach)
        ends = [t.true_end for t in slate_day.day.talks]
        assert min(abs((choice.end - e).total_seconds()) for e in ends) <= 2.0, choice
        assert choice.end > choice.start
        assert choice.cut.source == "suggested" and not choice.needs_review
    else:  # the truth lies beyond the radius around the (early) schedule
        assert choice.cut.source == "schedule" and choice.needs_review, choice
        assert choice.start is None  # the scheduled time, 5+ minutes off
