"""Issue 17 on the API: labels, headers, Range, reasons, stale catalog, links and tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from streamer import metrics
from streamer.api.app import create_app
from streamer.api.program import event_program
from streamer.api.viewer import safe_url
from streamer.api.vodindex import VodIndex
from streamer.config import Settings
from streamer.errors import ConfigError
from tests.api.conftest import EVENT_ID, Catalog, forum_program
from tests.api.test_program import T0

MP4 = f"/media/{EVENT_ID}/d1-keynote-1.mp4"


# ---- M2: /metrics labels -------------------------------------------------------------------


def test_metric_labels_are_bounded(client: TestClient) -> None:
    for n in range(20):
        client.request(f"FOO{n}", "/api/v1/vods")
        client.get(f"/no/such/path/{n}")
    text = client.get("/metrics").text
    assert "FOO" not in text
    assert "/no/such/path" not in text
    assert 'method="other"' in text and 'route="other"' in text
    name = "streamer_http_request_seconds"
    series = next(s for s in metrics.REGISTRY.collect() if s.name == name).samples
    assert len({s.labels["method"] for s in series}) <= 8


# ---- L4: security headers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", f"/watch/{EVENT_ID}.d1-keynote-1", "/api/v1/vods", MP4, "/healthz", "/nowhere"],
)
def test_security_headers_everywhere(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    if r.headers.get("content-type", "").startswith("text/html"):
        assert "script-src 'self'" in csp and "object-src 'none'" in csp
        assert "unsafe-inline" not in csp


# ---- L7: Range (RFC 9110) ----------------------------------------------------------------


def test_unknown_range_unit_is_ignored(client: TestClient, catalog: Catalog) -> None:
    r = client.get(MP4, headers={"Range": "items=0-1"})
    assert r.status_code == 200
    assert len(r.content) == int(r.headers["content-length"]) > 2


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=5-1", "bytes=-", "bytes=1-2-3"])
def test_malformed_range_is_416_json(client: TestClient, header: str) -> None:
    size = int(client.head(MP4).headers["content-length"])
    r = client.get(MP4, headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-range"] == f"bytes */{size}"
    assert r.json()["error"]["code"] == "range_not_satisfiable"


def test_unsatisfiable_range_is_416_json_with_the_length(client: TestClient) -> None:
    size = int(client.head(MP4).headers["content-length"])
    r = client.get(MP4, headers={"Range": f"bytes={size + 10}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{size}"
    assert r.json()["error"]["code"] == "range_not_satisfiable"


def test_suffix_range_and_if_range(client: TestClient) -> None:
    whole = client.get(MP4)
    r = client.get(MP4, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == whole.content[-10:]
    stale = client.get(MP4, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200
    fresh = client.get(MP4, headers={"Range": "bytes=0-9", "If-Range": whole.headers["etag"]})
    assert fresh.status_code == 206 and fresh.content == whole.content[:10]


# ---- L1: public reasons --------------------------------------------------------------------


def test_public_reasons_are_codes_without_internal_detail(catalog: Catalog) -> None:
    snap = VodIndex(catalog.storage).refresh()
    rows = [
        {
            "id": "d3-standards",
            "state": "failed",
            "reason": "d3-standards: ffmpeg failed (rc=1): /srv/data/recordings/day3/x.ts: "
            "Invalid data (attempt 2, retry in 60s)",
            "vod_id": None,
        },
        {
            "id": "d1-keynote-1",
            "state": "failed",
            "reason": "https://u:p@cdn.example/live.m3u8?token=abc: HTTP 403",
            "vod_id": None,
        },
    ]
    prog = event_program(EVENT_ID, programs=[forum_program()], snap=snap, now=T0, control_rows=rows)
    assert prog is not None
    by_id = {r["id"]: r for r in prog.sessions}
    assert by_id["d3-standards"]["reason_code"] == "cut_failed"
    assert by_id["d1-keynote-1"]["reason_code"] == "source_unavailable"
    text = repr(prog.sessions)
    for leak in ("/srv/data", "ffmpeg", "token=", "u:p@", "rc=1"):
        assert leak not in text


# ---- L6: stale catalog ---------------------------------------------------------------------


class Flaky:
    """A storage whose reads start raising a non-StorageError (a backend bug) on demand."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.broken = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name in ("head", "get_bytes", "list") and callable(attr):

            def call(*args: Any, **kwargs: Any) -> Any:
                if self.broken:
                    raise RuntimeError("backend exploded at /srv/secret/path")
                return attr(*args, **kwargs)

            return call
        return attr


def test_storage_bug_serves_the_last_good_catalog_marked_stale(
    settings: Settings, catalog: Catalog
) -> None:
    storage = Flaky(catalog.storage)
    app = create_app(settings, storage=storage, refresh_s=0)  # type: ignore[arg-type]
    with TestClient(app) as c:
        good = c.get("/api/v1/vods")
        assert good.status_code == 200 and "x-catalog-stale" not in good.headers
        storage.broken = True
        r = c.get("/api/v1/vods?limit=3")
        assert r.status_code == 200
        assert r.headers["x-catalog-stale"] == "true"
        assert len(r.json()["items"]) == 3


def test_storage_bug_without_a_catalog_is_503_json(settings: Settings, catalog: Catalog) -> None:
    storage = Flaky(catalog.storage)
    storage.broken = True
    app = create_app(settings, storage=storage, refresh_s=0)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/vods")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "storage_unavailable"
        assert "/srv/secret" not in r.text


# ---- L8 and safe_url: links ----------------------------------------------------------------


def test_deep_link_ignores_the_host_header(client: TestClient) -> None:
    html = client.get(f"/watch/{EVENT_ID}.d1-keynote-1", headers={"Host": "evil.example"}).text
    assert "evil.example" not in html
    assert f'value="/watch/{EVENT_ID}.d1-keynote-1"' in html


def test_deep_link_uses_the_site_url(settings: Settings, catalog: Catalog) -> None:
    site = Settings.model_validate({**settings.model_dump(), "site_url": "https://vod.example/"})
    with TestClient(create_app(site, storage=catalog.storage)) as c:
        html = c.get(f"/watch/{EVENT_ID}.d1-keynote-1", headers={"Host": "evil.example"}).text
    assert f'value="https://vod.example/watch/{EVENT_ID}.d1-keynote-1"' in html


@pytest.mark.parametrize(
    "url", ["/\\evil.com", "\\\\evil.com", "//evil.com", "javascript:alert(1)", "/a\nb"]
)
def test_safe_url_refuses_ways_off_the_site(url: str) -> None:
    assert safe_url(url) == ""


# ---- L3: token rules -----------------------------------------------------------------------


@pytest.mark.parametrize("env", ["development", "production"])
def test_short_tokens_refuse_to_start_and_say_how_to_make_one(
    settings: Settings, catalog: Catalog, env: str
) -> None:
    weak = Settings.model_validate({**settings.model_dump(), "env": env, "admin_token": "x" * 31})
    with pytest.raises(ConfigError, match=r"secrets\.token_urlsafe"):
        create_app(weak, storage=catalog.storage)


def test_token_compared_as_exact_bytes(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    token = "T" * 40
    padded = Settings.model_validate({**settings.model_dump(), "admin_token": token + " "})
    with pytest.raises(ConfigError, match="whitespace"):
        create_app(padded, storage=catalog.storage)
    exact = Settings.model_validate({**settings.model_dump(), "admin_token": token})
    with TestClient(create_app(exact, storage=catalog.storage)) as c:
        assert (
            c.get("/api/v1/admin/status", headers={"Authorization": "Bearer " + token}).status_code
            == 503
        )
        for wrong in (token[:-1], token + "x", token.lower()):
            r = c.get("/api/v1/admin/status", headers={"Authorization": "Bearer " + wrong})
            assert r.status_code == 403
