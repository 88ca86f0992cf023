"""The review desk in Debian's Chromium against the real service (orchestrator + API on
127.0.0.1) on a short simulated day: sign in, open a session, see the suggestion's markers,
nudge, accept; the VOD in the public index becomes version 2 with the new window."""

from __future__ import annotations

import asyncio
import queue
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from streamer.config import Settings
from streamer.pipeline.orchestrator import Orchestrator
from streamer.service.serve import serve
from streamer.vod import vod_id
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, TEST_TOKEN
from tests.detect.conftest import RADIUS_S, Rendered

pytestmark = pytest.mark.slow
TOKEN = TEST_TOKEN


@pytest.fixture
def service(slate_day: Rendered, settings: Settings, free_port: int) -> Iterator[str]:
    """The real service (orchestrator + API) with the rendered day as its recording."""
    settings = settings.model_copy(update={"cut_radius_s": RADIUS_S})
    settings.schedules.mkdir(parents=True, exist_ok=True)
    shutil.copy(slate_day.schedule, settings.schedules / "day.yaml")
    orch = Orchestrator(settings, tick_s=0.5)
    program = slate_day.day.program()
    orch.store.sync_program(program)
    orch.store.save_recording(program.event.id, "day1", dir=str(slate_day.directory))
    started: queue.Queue[str | BaseException] = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        try:
            async with serve(settings, orch, port=free_port, host="127.0.0.1") as base:
                started.put(base)
                while not stop.is_set():
                    await asyncio.sleep(0.1)
        except BaseException as exc:  # reported to the test thread
            started.put(exc)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    base = started.get(timeout=60)
    if isinstance(base, BaseException):
        raise base
    yield base
    stop.set()
    thread.join(30)


def test_review_nudge_accept_republishes(
    service: str, slate_day: Rendered, artifacts_dir: Path
) -> None:
    day = slate_day.day
    talk = day.talks[1]
    event_id = day.program().event.id
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=service, timeout=120) as api:
        r = api.post(f"/api/v1/admin/sessions/{talk.id}/publish", headers=auth)
        assert r.status_code == 200, r.text
        v1 = api.get(f"/api/v1/vods/{vod_id(event_id, talk.id)}")
        assert v1.status_code == 200, v1.text
        assert v1.json()["version"] == 1

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{service}/admin/")
        expect(page).to_have_url(f"{service}/admin/login")
        page.get_by_label("Admin token").fill(TOKEN)
        page.keyboard.press("Enter")
        expect(page.locator("#sessions")).to_be_visible()
        page.locator(f'a[href="/admin/sessions/{talk.id}"]').focus()
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_contain_text(talk.id, timeout=120_000)
        # the suggestion's markers on both tracks, the schedule's too
        expect(page.locator("#track-start .marker.suggested")).to_have_count(1)
        expect(page.locator("#track-end .marker.suggested")).to_have_count(1)
        expect(page.locator("#track-start .marker.schedule")).to_have_count(1)
        value = page.locator("#value-start")
        before = datetime.fromisoformat(value.inner_text())
        # nudge with a button, then with the keyboard alone
        page.locator("#edge-start").get_by_role("button", name="+1 s").click()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Shift+ArrowLeft")
        page.keyboard.press(".")
        want = before + timedelta(seconds=1 + 1 - 10 + 0.04)
        expect(value).to_have_text(want.isoformat(timespec="milliseconds"))
        expect(page.locator("#field-start")).to_have_value(want.isoformat(timespec="milliseconds"))
        for edge in ("start", "end"):  # the players have sought to the cut: a clear picture
            # page.evaluate runs over CDP, outside the page's CSP (which refuses the eval that
            # page.wait_for_function needs)
            ready = (
                f"(v => !v.seeking && v.readyState >= 2)(document.getElementById('video-{edge}'))"
            )
            for _ in range(600):
                if page.evaluate(ready):
                    break
                page.wait_for_timeout(50)
            assert page.evaluate(ready), f"the {edge} player never became ready"
        page.screenshot(path=str(artifacts_dir / "desk-review.png"), full_page=True)
        page.keyboard.press("a")
        expect(page.locator("#accept")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#done")).to_be_visible(timeout=120_000)
        expect(page.locator("#audit tbody tr")).to_have_count(1)
        browser.close()
    assert errors == []

    with httpx.Client(base_url=service, timeout=60) as api:
        vod = api.get(f"/api/v1/vods/{vod_id(event_id, talk.id)}").json()
    assert vod["version"] == 2
    assert abs((datetime.fromisoformat(vod["start"]) - want).total_seconds()) < 0.01
    end = datetime.fromisoformat(vod["end"])
    assert abs((end - talk.true_end).total_seconds()) <= 2  # the suggested end, accepted
