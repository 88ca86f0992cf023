"""Admin API: bearer auth (401/403), validation (422), delegation to Control, error mapping."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from streamer.api.app import create_app
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.pipeline.control import CutRequest
from tests.api.conftest import TOKEN, Catalog, FakeControl

AUTH = {"Authorization": f"Bearer {TOKEN}"}

ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/admin/status", None),
    ("POST", "/api/v1/admin/sessions/d1-newdeal/cut", {"start_offset_s": 30}),
    ("POST", "/api/v1/admin/sessions/d1-newdeal/publish", None),
    ("POST", "/api/v1/admin/sessions/d1-newdeal/unpublish", None),
    ("POST", "/api/v1/admin/broadcasts/day1/record", None),
    ("POST", "/api/v1/admin/broadcasts/day1/stop", None),
    ("POST", "/api/v1/admin/reload", None),
    ("POST", "/api/v1/admin/sessions/d1-newdeal/mark", {"edge": "start"}),
    ("GET", "/api/v1/admin/sessions/d1-newdeal/suggestion", None),
    ("POST", "/api/v1/admin/sessions/d1-newdeal/accept", {"by": "kim"}),
]


def call(
    c: TestClient, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> Any:
    return c.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_without_token_401(
    admin_client: TestClient, control: FakeControl, method: str, path: str, body: Any
) -> None:
    r = call(admin_client, method, path, body, {})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"]["code"] == "unauthorized"
    assert control.calls == []


@pytest.mark.parametrize(
    "header",
    [f"Basic {TOKEN}", "Bearer", "Bearer ", TOKEN, f"Token {TOKEN}", "bearer"],
)
def test_malformed_header_401(admin_client: TestClient, control: FakeControl, header: str) -> None:
    r = admin_client.get("/api/v1/admin/status", headers={"Authorization": header})
    assert r.status_code == 401
    assert "www-authenticate" in r.headers
    assert control.calls == []


@pytest.mark.parametrize(
    "token", ["wrong-token-0123456789", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "x"]
)
def test_wrong_token_403(admin_client: TestClient, control: FakeControl, token: str) -> None:
    for method, path, body in ROUTES:
        r = call(admin_client, method, path, body, {"Authorization": f"Bearer {token}"})
        assert r.status_code == 403, path
        assert r.json()["error"]["code"] == "forbidden"
    assert control.calls == []


def test_scheme_is_case_insensitive(admin_client: TestClient) -> None:
    r = admin_client.get("/api/v1/admin/status", headers={"Authorization": f"bearer {TOKEN}"})
    assert r.status_code == 200


def test_every_route_delegates(admin_client: TestClient, control: FakeControl) -> None:
    results = [call(admin_client, m, p, b, AUTH) for m, p, b in ROUTES]
    assert [r.status_code for r in results] == [200] * len(ROUTES)
    assert [name for name, _ in control.calls] == [
        "status",
        "cut",
        "publish",
        "unpublish",
        "record",
        "stop",
        "reload",
        "mark",
        "suggest",
        "accept",
    ]
    assert control.calls[-1][1][1].by == "kim"
    assert results[0].json()["sessions"][0]["state"] == "published"
    assert results[3].json() == {"id": "d1-newdeal", "state": "unpublished"}
    assert results[6].json()["added"] == ["d4-extra"]


def test_cut_passes_a_validated_request(admin_client: TestClient, control: FakeControl) -> None:
    body = {"start": "2021-04-27T13:03:30+09:00", "end_offset_s": 600}
    r = admin_client.post("/api/v1/admin/sessions/d1-newdeal/cut", json=body, headers=AUTH)
    assert r.status_code == 200
    name, (session_id, request) = control.calls[-1]
    assert (name, session_id) == ("cut", "d1-newdeal")
    assert isinstance(request, CutRequest)
    assert request.start is not None and request.start.utcoffset() is not None
    assert request.start.isoformat() == "2021-04-27T13:03:30+09:00"
    assert request.end_offset_s == 600
    assert r.json()["correction"]["end_offset_s"] == 600


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"start": "2021-04-27T13:00:00+09:00", "start_offset_s": 3},
        {"start": "not a time"},
        {"end_offset_s": "soon"},
        None,
    ],
)
def test_cut_validation_422(admin_client: TestClient, control: FakeControl, body: Any) -> None:
    r = admin_client.post("/api/v1/admin/sessions/d1-newdeal/cut", json=body, headers=AUTH)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert err["details"]
    assert control.calls == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/admin/sessions/UPPER/publish",
        "/api/v1/admin/sessions/-lead/publish",
        "/api/v1/admin/sessions/a%20b/publish",
        f"/api/v1/admin/sessions/{'a' * 200}/publish",
        "/api/v1/admin/broadcasts/day%3B1/record",
    ],
)
def test_bad_ids_422(admin_client: TestClient, control: FakeControl, path: str) -> None:
    r = admin_client.post(path, headers=AUTH)
    assert r.status_code == 422
    assert control.calls == []


def test_domain_errors_map_to_statuses(admin_client: TestClient) -> None:
    missing = admin_client.post("/api/v1/admin/sessions/no-such/publish", headers=AUTH)
    assert missing.status_code == 404
    assert "no-such" in missing.json()["error"]["message"]
    locked = admin_client.post("/api/v1/admin/sessions/d1-keynote-1/publish", headers=AUTH)
    assert locked.status_code == 409
    assert locked.json()["error"]["code"] == "illegal_transition"
    assert admin_client.post("/api/v1/admin/broadcasts/day9/stop", headers=AUTH).status_code == 404


def test_without_orchestrator_503_after_auth(client: TestClient) -> None:
    assert client.get("/api/v1/admin/status").status_code == 401
    assert (
        client.get(
            "/api/v1/admin/status", headers={"Authorization": "Bearer nope-nope-nope"}
        ).status_code
        == 403
    )
    r = client.post("/api/v1/admin/reload", headers=AUTH)
    assert r.status_code == 503
    assert r.json()["error"]["message"] == "orchestrator not running"


@pytest.mark.parametrize("token", ["", "changeme", "admin", "short"])
def test_refuses_weak_token_outside_development(
    settings: Settings, catalog: Catalog, token: str
) -> None:
    prod = Settings.model_validate(
        {**settings.model_dump(), "env": "production", "admin_token": token}
    )
    with pytest.raises(ConfigError):
        create_app(prod, storage=catalog.storage)


def test_production_with_a_real_token(settings: Settings, catalog: Catalog) -> None:
    prod = Settings.model_validate(
        {**settings.model_dump(), "env": "production", "admin_token": TOKEN}
    )
    with TestClient(create_app(prod, storage=catalog.storage, control=FakeControl())) as c:
        assert c.get("/api/v1/admin/status", headers=AUTH).status_code == 200


def test_development_without_token_disables_admin(settings: Settings, catalog: Catalog) -> None:
    dev = Settings.model_validate({**settings.model_dump(), "admin_token": ""})
    control = FakeControl()
    with TestClient(create_app(dev, storage=catalog.storage, control=control)) as c:
        assert c.get("/api/v1/admin/status").status_code == 401
        # an empty configured token must never match anything
        r = c.get("/api/v1/admin/status", headers={"Authorization": "Bearer x"})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "admin_disabled"
    assert control.calls == []
