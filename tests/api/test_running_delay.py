"""Issue 13: the running delay shows in the program API and on the viewer's program page, in
English and Korean, from the real orchestrator's state (a start marked 7 minutes late)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from streamer.api.app import create_app
from streamer.config import Settings
from streamer.pipeline.control import MarkRequest
from streamer.pipeline.orchestrator import Orchestrator
from streamer.timeutil import now
from tests.api.conftest import FUTURE_ID, Catalog, future_program

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture
def late(settings: Settings, catalog: Catalog) -> Iterator[tuple[TestClient, datetime]]:
    """The future forum, its session on now marked as started 7 minutes late."""
    program = future_program(now())
    orch = Orchestrator(settings)
    orch.store.sync_program(program)
    on_now = program.session("now-on")
    orch.mark("now-on", MarkRequest(edge="start", at=on_now.start + timedelta(minutes=7)), "test")
    later = program.session("later")
    app = create_app(settings, control=orch, storage=catalog.storage, programs=lambda: [program])
    with TestClient(app) as client:
        yield client, later.start + timedelta(minutes=7)


def test_the_program_api_carries_the_predicted_window(
    late: tuple[TestClient, datetime],
) -> None:
    client, predicted = late
    resp = client.get(f"/api/v1/events/{FUTURE_ID}/sessions")
    assert resp.status_code == 200
    rows = {r["id"]: r for r in resp.json()["sessions"]}
    later = rows["later"]
    assert later["delay_s"] == 420
    assert later["delay_text"] == "running ~7 min late"
    assert later["delay_label"] == {"en": "running ~7 min late", "ko": "약 7분 지연"}
    assert datetime.fromisoformat(later["predicted_start"]) == predicted
    # the schedule's own time is kept beside the prediction
    assert datetime.fromisoformat(later["start"]) == predicted - timedelta(minutes=7)


@pytest.mark.parametrize(("lang", "text"), [("en", "running ~7 min late"), ("ko", "약 7분 지연")])
def test_the_viewer_says_how_late_the_day_runs(
    late: tuple[TestClient, datetime], lang: str, text: str
) -> None:
    client, predicted = late
    html = client.get(f"/?event={FUTURE_ID}&lang={lang}").text
    item = html.split('id="s-later"', 1)[1].split("</li>", 1)[0]
    local = predicted.astimezone(SEOUL)
    window = f"{local:%H:%M}–{local + timedelta(hours=1):%H:%M}"
    assert f'<span class="delay">{text} · {window}</span>' in item, item
