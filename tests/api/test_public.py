"""The public API on the real app and a real local store published by the real Publisher."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from streamer.api.app import create_app
from streamer.config import Settings
from streamer.schedule.model import Program
from streamer.timeutil import iso, now
from streamer.vod import vod_id
from tests.api.conftest import (
    EVENT_ID,
    FORUM_SESSIONS,
    FUTURE_ID,
    Catalog,
    S,
    kst,
    vod_record,
)

PUBLISHED = [s for s in FORUM_SESSIONS if s.publish]


def ids(body: dict[str, Any]) -> list[str]:
    return [item["session_id"] for item in body["items"]]


def test_list_is_the_index_in_stable_order(client: TestClient, catalog: Catalog) -> None:
    r = client.get("/api/v1/vods")
    assert r.status_code == 200
    body = r.json()
    assert body["next"] is None
    assert ids(body) == [s.id for s in sorted(PUBLISHED, key=lambda s: s.start)]
    # items are the VOD records exactly as the index holds them
    by_id = {item["id"]: item for item in catalog.index()["items"]}
    assert body["items"] == [by_id[item["id"]] for item in body["items"]]


def test_one_vod_is_the_same_object_as_in_the_list(client: TestClient) -> None:
    listed = client.get("/api/v1/vods").json()["items"]
    for item in listed:
        r = client.get(f"/api/v1/vods/{item['id']}")
        assert r.status_code == 200
        assert r.json() == item


def test_unknown_vod_is_a_404_naming_it(client: TestClient) -> None:
    r = client.get(f"/api/v1/vods/{EVENT_ID}.nope")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "not_found"
    assert f"{EVENT_ID}.nope" in err["message"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"event": EVENT_ID}, [s.id for s in PUBLISHED]),
        ({"event": "other-event"}, []),
        # 08:00 KST on the 28th is still the 27th in UTC: the day is the event's
        ({"day": "2021-04-28"}, ["d2-morning", "d2-industry", "d2-startups"]),
        ({"day": "2021-04-27"}, ["d1-keynote-1", "d1-keynote-2", "d1-newdeal"]),
        ({"track": "keynote"}, ["d1-keynote-1", "d1-keynote-2"]),
        ({"language": "EN"}, ["d1-keynote-1", "d3-global"]),
        ({"speaker": "SCHENKER"}, ["d1-keynote-1"]),
        ({"speaker": "정재"}, ["d1-keynote-2"]),
        ({"speaker": "KAIST"}, []),  # affiliations are not speaker names
        ({"q": "스마트시티"}, ["d1-newdeal", "d2-startups", "d3-global"]),
        ({"q": "hyundai"}, ["d2-industry"]),
        ({"q": "KAIST"}, ["d1-keynote-2"]),  # q also searches affiliations
        ({"q": "smart global"}, ["d3-global"]),  # every word must match
        ({"q": "citizens"}, ["d2-morning"]),  # track and title
        ({"track": "keynote", "language": "ko"}, ["d1-keynote-2"]),
        ({"q": "nothing-like-this"}, []),
    ],
)
def test_filters(client: TestClient, query: dict[str, str], expected: list[str]) -> None:
    r = client.get("/api/v1/vods", params=query)
    assert r.status_code == 200, r.text
    assert ids(r.json()) == expected


def test_updated_since(client: TestClient, catalog: Catalog) -> None:
    past = iso(now() - timedelta(hours=1))
    future = iso(now() + timedelta(hours=1))
    assert len(client.get("/api/v1/vods", params={"updated_since": past}).json()["items"]) == 7
    assert client.get("/api/v1/vods", params={"updated_since": future}).json()["items"] == []
    # a time without an offset is UTC
    naive = (now() - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert len(client.get("/api/v1/vods", params={"updated_since": naive}).json()["items"]) == 7


def test_pagination_walks_everything_once(client: TestClient) -> None:
    full = client.get("/api/v1/vods").json()["items"]
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/vods", params=params).json()
        seen.extend(body["items"])
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert pages == 4
    assert seen == full


def test_pagination_is_stable_while_the_catalog_changes(
    client: TestClient, catalog: Catalog
) -> None:
    first = client.get("/api/v1/vods", params={"limit": 3}).json()
    assert ids(first) == ["d1-keynote-1", "d1-keynote-2", "d1-newdeal"]
    # between pages: one of page 1 disappears, one appears before the cursor, one after it
    catalog.unpublish(EVENT_ID, "d1-keynote-2")
    early = S("d1-opening", kst(27, 9), kst(27, 9, 30), "개회", "Opening", (), "Ceremony", "ko")
    late = S("d2-extra", kst(28, 16), kst(28, 17), "추가", "Extra", (), "Policy", "ko")
    catalog.publish(vod_record(early))
    catalog.publish(vod_record(late))
    time.sleep(0.15)  # the app re-checks storage every 0.1 s
    rest: list[str] = []
    cursor = first["next"]
    while cursor:
        body = client.get("/api/v1/vods", params={"limit": 3, "cursor": cursor}).json()
        rest.extend(ids(body))
        cursor = body["next"]
    assert rest == ["d2-morning", "d2-industry", "d2-startups", "d2-extra", "d3-global"]


def test_a_publish_shows_within_the_refresh_interval(client: TestClient, catalog: Catalog) -> None:
    before = client.get("/api/v1/vods")
    extra = S(
        "d3-extra", kst(29, 15), kst(29, 16), "추가 세션", "Extra session", (), "Global", "en"
    )
    catalog.publish(vod_record(extra))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/vods/{vod_id(EVENT_ID, 'd3-extra')}")
        if r.status_code == 200:
            break
        time.sleep(0.05)
    assert r.status_code == 200
    after = client.get("/api/v1/vods")
    assert after.headers["etag"] != before.headers["etag"]
    assert "d3-extra" in ids(after.json())


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"day": "2021-02-30"}, "day"),
        ({"day": "27-04-2021"}, "day"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"cursor": "!!!"}, "cursor"),
        ({"event": "../etc"}, "event"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_invalid_queries_are_422_with_reasons(
    client: TestClient, query: dict[str, str], field: str
) -> None:
    r = client.get("/api/v1/vods", params=query)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert any(d["loc"][-1] == field for d in err["details"])
    assert field in err["message"]


def test_invalid_vod_id_is_422(client: TestClient) -> None:
    r = client.get("/api/v1/vods/Bad..ID%20x")
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["path", "vod_id"]


def test_etag_and_304(client: TestClient) -> None:
    for path in ("/api/v1/vods?limit=2", f"/api/v1/vods/{EVENT_ID}.d1-keynote-1", "/api/v1/events"):
        r = client.get(path, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200
        etag = r.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert "max-age" in r.headers["cache-control"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["cache-control"] == r.headers["cache-control"]
        other = client.get(path, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200
        assert client.get(path, headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304


def test_etag_changes_with_the_content(client: TestClient) -> None:
    a = client.get("/api/v1/vods", params={"limit": 2}).headers["etag"]
    b = client.get("/api/v1/vods", params={"limit": 3}).headers["etag"]
    assert a != b


def test_gzip(client: TestClient) -> None:
    r = client.get("/api/v1/vods", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in r.headers["vary"].lower()
    plain = client.get("/api/v1/vods", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json() == r.json()
    assert int(r.headers["content-length"]) < len(plain.content) / 2
    # the 304 of a gzip representation answers the plain one too
    assert (
        client.get("/api/v1/vods", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    )
    refused = client.get("/api/v1/vods", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_cors_for_configured_origins(
    settings: Settings, catalog: Catalog, programs: list[Program]
) -> None:
    settings = settings.model_copy(update={"cors_origins": ["https://forum.example"]})
    app = create_app(settings, storage=catalog.storage, programs=lambda: programs)
    with TestClient(app) as c:
        ok = c.get("/api/v1/vods", headers={"Origin": "https://forum.example"})
        assert ok.headers["access-control-allow-origin"] == "https://forum.example"
        assert "etag" in ok.headers["access-control-expose-headers"].lower()
        bad = c.get("/api/v1/vods", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in bad.headers
        pre = c.options(
            "/api/v1/vods",
            headers={
                "Origin": "https://forum.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "If-None-Match",
            },
        )
        assert pre.status_code == 200
        assert "GET" in pre.headers["access-control-allow-methods"]
        post = c.options(
            "/api/v1/admin/reload",
            headers={"Origin": "https://forum.example", "Access-Control-Request-Method": "POST"},
        )
        assert post.status_code == 400  # the admin API is not for cross-origin browsers


def test_cors_wildcard_by_default(client: TestClient) -> None:
    r = client.get("/api/v1/events", headers={"Origin": "https://anywhere.example"})
    assert r.headers["access-control-allow-origin"] == "*"


def test_events(client: TestClient) -> None:
    body = client.get("/api/v1/events").json()
    events = {e["id"]: e for e in body["events"]}
    forum = events[EVENT_ID]
    assert forum["count"] == 7
    assert forum["title"]["ko"] == "세종 스마트시티 국제포럼 2021"
    assert forum["timezone"] == "Asia/Seoul"
    assert forum["index_url"] == f"/media/{EVENT_ID}/index.json"
    # scheduled but with nothing published yet
    assert events[FUTURE_ID]["count"] == 0


def test_sessions_of_an_event_without_orchestrator(client: TestClient) -> None:
    r = client.get(f"/api/v1/events/{EVENT_ID}/sessions")
    assert r.status_code == 200
    body = r.json()
    assert body["event"]["id"] == EVENT_ID
    sessions = {s["id"]: s for s in body["sessions"]}
    assert [s["id"] for s in body["sessions"]] == [s.id for s in FORUM_SESSIONS]
    keynote = sessions["d1-keynote-1"]
    assert keynote["state"] == "published"
    assert keynote["vod_id"] == vod_id(EVENT_ID, "d1-keynote-1")
    assert keynote["vod_url"] == f"/api/v1/vods/{keynote['vod_id']}"
    assert keynote["media_url"] == f"/media/{EVENT_ID}/d1-keynote-1.mp4"
    assert keynote["start"] == "2021-04-27T10:00:00+09:00"
    assert sessions["d3-standards"]["state"] == "ended"
    assert sessions["d3-standards"]["vod_id"] is None
    assert sessions["d3-closing"]["state"] == "skipped"
    future = {
        s["id"]: s for s in client.get(f"/api/v1/events/{FUTURE_ID}/sessions").json()["sessions"]
    }
    assert future["now-on"]["state"] == "live"
    assert future["later"]["state"] == "upcoming"


def test_sessions_unknown_event(client: TestClient) -> None:
    r = client.get("/api/v1/events/no-such-event/sessions")
    assert r.status_code == 404
    assert "no-such-event" in r.json()["error"]["message"]


def test_sessions_with_orchestrator_states(admin_client: TestClient) -> None:
    body = admin_client.get(f"/api/v1/events/{EVENT_ID}/sessions").json()
    sessions = {s["id"]: s for s in body["sessions"]}
    assert sessions["d3-standards"]["state"] == "failed"
    assert sessions["d3-standards"]["reason_code"] == "capture_gap"
    assert sessions["d3-standards"]["reason"] == "the recording has gaps"
    assert sessions["d1-keynote-1"]["progress"] == 1.0
    assert sessions["d1-keynote-1"]["watch_url"] == f"/watch/{EVENT_ID}.d1-keynote-1"
    # the orchestrator does not know the future event: schedules + clock answer
    future = admin_client.get(f"/api/v1/events/{FUTURE_ID}/sessions").json()
    assert {s["state"] for s in future["sessions"]} == {"live", "upcoming"}


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    r = client.get("/api/v1/nothing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_openapi_documents_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/vods",
        "/api/v1/vods/{vod_id}",
        "/api/v1/events",
        "/api/v1/events/{event_id}/sessions",
        "/api/v1/admin/status",
        "/api/v1/admin/sessions/{session_id}/cut",
        "/api/v1/admin/reload",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths, path
    vods = paths["/api/v1/vods"]["get"]
    assert vods["description"] or vods["summary"]
    names = {p["name"] for p in vods["parameters"]}
    assert names >= {
        "event",
        "day",
        "track",
        "language",
        "speaker",
        "q",
        "updated_since",
        "limit",
        "cursor",
    }
    cut = paths["/api/v1/admin/sessions/{session_id}/cut"]["post"]
    assert cut["security"]
    assert "examples" in cut["requestBody"]["content"]["application/json"]


def _count_200(client: TestClient) -> float:
    for line in client.get("/metrics").text.splitlines():
        if (
            line.startswith("streamer_http_request_seconds_count")
            and 'route="/api/v1/vods"' in line
            and 'status="200"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_repeated_reads_are_answered_from_the_cache_identically(client: TestClient) -> None:
    before = _count_200(client)
    path = "/api/v1/vods?limit=3&track=keynote"
    first = client.get(path, headers={"Origin": "https://x.example"})
    second = client.get(path, headers={"Origin": "https://x.example"})
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == first.headers["cache-control"]
    assert second.headers["access-control-allow-origin"] == "*"
    assert client.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    # the same filters spelled differently are validated and answered on their own
    assert client.get("/api/v1/vods?track=keynote&limit=3").json() == first.json()
    assert client.get("/api/v1/vods?track=keynote&limit=0").status_code == 422
    one = f"/api/v1/vods/{EVENT_ID}.d1-keynote-2"
    assert client.get(one).json() == client.get(one).json()
    # cached answers are measured under their route too
    assert _count_200(client) - before == 3


def test_cached_reads_see_a_publish_and_an_unpublish(client: TestClient, catalog: Catalog) -> None:
    one = f"/api/v1/vods/{EVENT_ID}.d2-industry"
    assert client.get(one).status_code == 200
    assert client.get(one).status_code == 200  # now cached
    catalog.unpublish(EVENT_ID, "d2-industry")
    time.sleep(0.15)
    assert client.get(one).status_code == 404
    assert "d2-industry" not in ids(client.get("/api/v1/vods").json())
