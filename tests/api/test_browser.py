"""The viewer in headless Chromium (Debian's), against a real uvicorn server on 127.0.0.1:
open /, switch to English, open a session, the video plays; a screenshot is kept."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.api.conftest import EVENT_ID, LiveServer
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

# No skip when chromium is missing: scripts/test.sh installs it, and a viewer test that
# cannot run must fail rather than pass quietly.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def wait_js(page: Page, expression: str, timeout_s: float = 15.0) -> None:
    """Poll ``expression`` (page.evaluate runs over CDP, outside the page's CSP, which
    refuses the eval that page.wait_for_function needs) until true, within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    p = context.new_page()
    yield p
    context.close()


def test_open_switch_language_watch_and_play(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # the Content-Security-Policy must not block anything the viewer itself does
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{live_server.url}/")
    # Korean by default (Accept-Language from the ko-KR locale), and it renders as text
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("h1")).to_have_text("세종 스마트시티 국제포럼 2021")
    expect(page.get_by_text("코로나 이후 도시의 미래와 세종의 대응")).to_be_visible()
    # day tabs: JS shows one day at a time, and the keyboard moves between them
    tabs = page.get_by_role("tab")
    expect(tabs).to_have_count(3)
    tabs.first.focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="4월 28일 (수)")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("스마트시티 혁신창업 사례")).to_be_visible()
    expect(page.get_by_text("코로나 이후 도시의 미래와 세종의 대응")).to_be_hidden()
    page.get_by_role("tab", name="4월 27일 (화)").click()

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Sejong Smart City International Forum 2021")
    page.screenshot(path=str(artifacts_dir / "api-viewer-program.png"), full_page=True)

    page.get_by_role("link", name="The city after COVID-19 and Sejong's response").click()
    expect(page).to_have_url(f"{live_server.url}/watch/{EVENT_ID}.d1-keynote-1")
    expect(page.locator("h1")).to_have_text("The city after COVID-19 and Sejong's response")
    expect(page.locator("p.subtitle")).to_have_text("코로나 이후 도시의 미래와 세종의 대응")

    video = page.locator("video")
    wait_js(page, "document.querySelector('video').readyState >= 1")
    duration = page.evaluate("document.querySelector('video').duration")
    assert 3.5 < duration < 4.5
    page.evaluate(
        "() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }"
    )
    wait_js(page, "document.querySelector('video').currentTime > 0.5")
    # seeking works (the server answers Range requests)
    page.evaluate("() => { const v = document.querySelector('video'); v.currentTime = 3.0; }")
    wait_js(
        page,
        "(() => { const v = document.querySelector('video');"
        " return !v.seeking && v.currentTime >= 2.9; })()",
    )
    # keyboard: k pauses
    page.locator("h1").click()
    page.keyboard.press("k")
    wait_js(page, "document.querySelector('video').paused", 5.0)
    expect(video).to_have_attribute("preload", "metadata")
    page.screenshot(path=str(artifacts_dir / "api-viewer-watch.png"), full_page=True)
    assert errors == []


def test_readable_without_javascript(browser: Browser, live_server: LiveServer) -> None:
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/")
        # every day is on the page, and the day links jump to them
        for title in ("The city after COVID-19", "Smart-city start-ups", "Global expansion"):
            expect(page.get_by_text(title, exact=False)).to_be_visible()
        page.get_by_role("link", name="Thu 29 Apr").click()
        expect(page).to_have_url(f"{live_server.url}/#d-2021-04-29")
    finally:
        context.close()


def test_api_docs_work_offline(
    browser: Browser, live_server: LiveServer, artifacts_dir: Path
) -> None:
    """/docs with Chromium's network closed to everything but the app: Swagger UI's assets come
    from the app itself, and the page lists every documented route."""
    context = browser.new_context(locale="en-US")
    blocked: list[str] = []

    def only_the_app(route: Route) -> None:
        url = route.request.url
        if url.startswith(live_server.url + "/"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_app)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{live_server.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("streamer")
        spec = page.request.get(f"{live_server.url}/openapi.json").json()
        paths = sorted(spec["paths"])
        assert "/api/v1/vods" in paths
        for path in paths:
            expect(page.locator(f'.opblock-summary-path[data-path="{path}"]').first).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "api-docs-offline.png"), full_page=False)
    finally:
        context.close()
    assert blocked == []  # nothing was even asked of a CDN
    assert errors == []
