"""Issue 13: the running delay shows in the program API and on the viewer's program page, in
English and Korean, from the real orchestrator's state (a start marked 7 minutes late)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import expect, sync_playwright

from streamer.api.app import create_app
from streamer.config import Settings
from streamer.pipeline.control import MarkRequest
from streamer.pipeline.orchestrator import Orchestrator
from streamer.timeutil import now
from tests.api.conftest import FUTURE_ID, Catalog, future_program, start_server
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

SEOUL = ZoneInfo("Asia/Seoul")


def _same_local_day(moment: datetime) -> datetime:
    """``moment``, or the next 10:00 in Seoul when the program around it (10 minutes before
    to 3 hours after) would cross local midnight: a running delay shifts one local day."""
    local = moment.astimezone(SEOUL)
    if (local - timedelta(minutes=10)).date() == (local + timedelta(hours=3)).date():
        return moment
    ten = local.replace(hour=10, minute=0, second=0, microsecond=0)
    return ten if ten > local else ten + timedelta(days=1)


@pytest.fixture
def late_app(settings: Settings, catalog: Catalog) -> tuple[FastAPI, datetime]:
    """The future forum, its session on now marked as started 7 minutes late; the app on the
    real orchestrator's state, and the later session's predicted start."""
    program = future_program(_same_local_day(now()))
    orch = Orchestrator(settings)
    orch.store.sync_program(program)
    on_now = program.session("now-on")
    orch.mark("now-on", MarkRequest(edge="start", at=on_now.start + timedelta(minutes=7)), "test")
    later = program.session("later")
    app = create_app(settings, control=orch, storage=catalog.storage, programs=lambda: [program])
    return app, later.start + timedelta(minutes=7)


@pytest.fixture
def late(late_app: tuple[FastAPI, datetime]) -> Iterator[tuple[TestClient, datetime]]:
    app, predicted = late_app
    with TestClient(app) as client:
        yield client, predicted


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


@pytest.mark.slow  # Chromium
def test_the_viewer_in_a_browser_says_it_in_both_languages(
    late_app: tuple[FastAPI, datetime], artifacts_dir: Path
) -> None:
    app, predicted = late_app
    live = start_server(app)
    local = predicted.astimezone(SEOUL)
    window = f"{local:%H:%M}–{local + timedelta(hours=1):%H:%M}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_context(locale="ko-KR").new_page()
            page.goto(f"{live.url}/?event={FUTURE_ID}")
            delay = page.locator("#s-later .delay")
            expect(delay).to_have_text(f"약 7분 지연 · {window}")
            page.locator('a[data-lang="en"]').first.click()
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(delay).to_have_text(f"running ~7 min late · {window}")
            page.screenshot(path=str(artifacts_dir / "viewer-running-late.png"), full_page=True)
            browser.close()
    finally:
        live.server.should_exit = True
        live.thread.join(timeout=10)
