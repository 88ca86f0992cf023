"""The viewer pages, server-rendered: languages, days, states, player, escaping, 404s."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from tests.api.conftest import EVENT_ID, FUTURE_ID, Catalog, S, kst, vod_record

KO = {"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str, name: str) -> list[dict[str, str | None]]:
    parser = Tags()
    parser.feed(html)
    return [attrs for tag, attrs in parser.tags if tag == name]


def test_program_in_korean_by_accept_language(client: TestClient) -> None:
    r = client.get("/", headers=KO)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    html = r.text
    assert '<meta charset="utf-8">' in html
    assert '<html lang="ko">' in html
    assert "세종 스마트시티 국제포럼 2021" in html
    assert "코로나 이후 도시의 미래와 세종의 대응" in html
    assert "정재승 (KAIST)" in html
    assert "다시보기" in html  # archived badge
    # days as tabs that work without JavaScript: links to sections on the page
    for day in ("2021-04-27", "2021-04-28", "2021-04-29"):
        assert f'href="#d-{day}"' in html
        assert f'id="d-{day}"' in html
    assert "4월 27일 (화)" in html
    # times in the event's zone
    assert "10:00–10:40" in html
    assert "08:00–09:00" in html  # 23:00 UTC the day before
    assert "Asia/Seoul" in html


def test_program_in_english_and_remembered(client: TestClient) -> None:
    r = client.get("/?lang=en", headers=KO)
    assert '<html lang="en">' in r.text
    assert "The city after COVID-19 and Sejong&#39;s response" in r.text
    assert "Tue 27 Apr" in r.text
    assert "lang=en" in r.headers["set-cookie"]
    # the cookie now wins over Accept-Language
    again = client.get("/", headers=KO)
    assert '<html lang="en">' in again.text
    client.cookies.clear()
    assert '<html lang="ko">' in client.get("/", headers=KO).text
    assert '<html lang="en">' in client.get("/", headers=EN).text
    assert '<html lang="ko">' in client.get("/", headers={"Accept-Language": "fr, ko;q=0.1"}).text


def test_states_links_and_thumbnails(client: TestClient) -> None:
    html = client.get("/?lang=en").text
    links = {a.get("href") for a in tags(html, "a")}
    assert f"/watch/{EVENT_ID}.d1-keynote-1" in links
    assert f"/watch/{EVENT_ID}.d3-standards" not in links  # not published: no link
    imgs = {i.get("src") for i in tags(html, "img")}
    assert f"/media/{EVENT_ID}/d1-keynote-1.jpg" in imgs
    standards = re.search(r'id="s-d3-standards".*?</li>', html, re.S)
    assert standards is not None and "badge-processing" in standards.group(0)
    closing = re.search(r'id="s-d3-closing".*?</li>', html, re.S)
    assert closing is not None and "badge-unavailable" in closing.group(0)
    future = client.get(f"/?event={FUTURE_ID}&lang=en").text
    assert "badge-live" in future and "badge-upcoming" in future
    assert "On now" in future


def test_pick_an_event(client: TestClient) -> None:
    html = client.get(f"/?event={FUTURE_ID}", headers=KO).text
    assert "미래 포럼" in html
    assert f'href="/?event={EVENT_ID}"' in html
    assert client.get("/?event=nope").status_code == 404


def test_watch_page(client: TestClient) -> None:
    r = client.get(f"/watch/{EVENT_ID}.d2-startups", headers=KO)
    assert r.status_code == 200
    html = r.text
    (video,) = tags(html, "video")
    assert video["src"] == f"/media/{EVENT_ID}/d2-startups.mp4"
    assert video["preload"] == "metadata"
    assert "controls" in video
    assert video["poster"] == f"/media/{EVENT_ID}/d2-startups.jpg"
    assert '<h1 lang="ko">스마트시티 혁신창업 사례</h1>' in html
    assert 'lang="en">Smart-city start-ups<' in html
    assert "녹화가 끊긴 구간이 있습니다" in html  # the gap is reported
    assert "14:10:00–14:10:12" in html
    # the deep link is relative without STREAMER_SITE_URL: never built from the Host header
    assert f'value="/watch/{EVENT_ID}.d2-startups"' in html
    assert "14:00–15:00" in html  # scheduled, event zone
    assert "built-in method" not in html and "Undefined" not in html


def test_watch_unknown_is_404_html(client: TestClient) -> None:
    for path in (f"/watch/{EVENT_ID}.nope", "/watch/BAD%20ID", "/watch/%3Cscript%3E"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")


def test_everything_is_escaped(client: TestClient, catalog: Catalog) -> None:
    evil = S(
        "d3-evil",
        kst(29, 16),
        kst(29, 17),
        "<script>alert('ko')</script>",
        '"><img src=x onerror=alert(1)>',
        (("<b>Mallory</b>", "a&b"),),
        "<i>track</i>",
        "en",
    )
    catalog.publish(
        vod_record(evil).model_copy(update={"thumbnail_url": "javascript:alert(1)"}),
    )
    import time

    time.sleep(0.15)
    for path in ("/?lang=ko", "/?lang=en", f"/watch/{EVENT_ID}.d3-evil"):
        html = client.get(path).text
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "<b>Mallory" not in html
        assert "javascript:" not in html
    assert "&lt;script&gt;alert(&#39;ko&#39;)&lt;/script&gt;" in client.get("/?lang=ko").text


def test_static_assets(client: TestClient) -> None:
    assert client.get("/static/viewer.js").status_code == 200
    css = client.get("/static/viewer.css").text
    assert "Noto Sans CJK KR" in css
