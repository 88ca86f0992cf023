"""State badges and the merge of orchestrator rows, schedules and the published index."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streamer.api.program import badge, event_program
from streamer.api.vodindex import VodIndex
from streamer.timeutil import iso, now
from streamer.vod import vod_id
from tests.api.conftest import EVENT_ID, Catalog, forum_program

T0 = now()


def row(state: str | None, start_min: int, end_min: int, **extra: object) -> dict[str, object]:
    return {
        "state": state,
        "start": iso(T0 + timedelta(minutes=start_min)),
        "end": iso(T0 + timedelta(minutes=end_min)),
        **extra,
    }


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (row("published", -60, -30), "archived"),
        (row("incomplete", -60, -30), "archived"),
        (row("splitting", -60, -30, watch_url="/watch/x.y"), "archived"),  # old cut still up
        (row("recording", -10, 30), "live"),
        (row("waiting", -10, 30), "upcoming"),  # in its window, broadcast not live yet
        (row("planned", 10, 30), "upcoming"),
        (row("splitting", -60, -30), "processing"),
        (row("failed", -60, -30), "unavailable"),
        (row("skipped", 10, 30), "unavailable"),
        (row("unpublished", -60, -30), "unavailable"),
        (row(None, 10, 30), "upcoming"),
        (row("live", -10, 30), "live"),
        (row("ended", -60, -30), "processing"),
    ],
)
def test_badges(r: dict[str, object], expected: str) -> None:
    assert badge(r, T0) == expected


def test_orchestrator_rows_override_states_but_not_the_published_links(catalog: Catalog) -> None:
    snap = VodIndex(catalog.storage).refresh()
    rows = [
        {"id": "d1-keynote-1", "state": "splitting", "reason": "re-cut", "vod_id": None},
        {"id": "d3-standards", "state": "failed", "reason": "no coverage", "vod_id": None},
        {"id": "d9-walk-in", "state": "planned", "reason": None, "vod_id": None},
    ]
    prog = event_program(EVENT_ID, programs=[forum_program()], snap=snap, now=T0, control_rows=rows)
    assert prog is not None
    by_id = {r["id"]: r for r in prog.sessions}
    keynote = by_id["d1-keynote-1"]
    # the public side gets a code and a short message, not the orchestrator's own words
    assert (keynote["state"], keynote["reason_code"]) == ("splitting", "processing")
    assert keynote["vod_id"] == vod_id(EVENT_ID, "d1-keynote-1")  # the old cut stays watchable
    assert keynote["watch_url"] == f"/watch/{keynote['vod_id']}"
    assert by_id["d3-standards"]["state"] == "failed"
    assert by_id["d9-walk-in"]["state"] == "planned"  # known to the orchestrator only
    assert by_id["d2-industry"]["state"] == "published"  # not in the rows: from the index


def test_published_vods_missing_from_the_schedule_are_listed(catalog: Catalog) -> None:
    catalog.unpublish(EVENT_ID, "d1-newdeal")
    program = forum_program()
    trimmed = program.model_copy(
        update={"sessions": [s for s in program.sessions if s.id != "d2-industry"]}
    )
    snap = VodIndex(catalog.storage).refresh()
    prog = event_program(EVENT_ID, programs=[trimmed], snap=snap, now=T0)
    assert prog is not None
    by_id = {r["id"]: r for r in prog.sessions}
    assert by_id["d2-industry"]["state"] == "published"
    assert by_id["d1-newdeal"]["state"] == "ended"  # scheduled, over, no longer published
    assert event_program("nope", programs=[trimmed], snap=snap, now=T0) is None
