"""The review desk (issue 13 item 5): sign-in, CSRF, sign-out, headers, dashboards."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from streamer.api.desk.auth import COOKIE, DeskAuth
from streamer.api.desk.i18n import MESSAGES
from streamer.api.desk.pages import dashboard_rows
from tests.api.conftest import TOKEN, FakeControl


def sign_in(c: TestClient) -> str:
    r = c.post("/admin/login", data={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/admin/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    page = c.get("/admin/")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def desk(c: TestClient) -> DeskAuth:
    auth = c.app.state.desk  # type: ignore[attr-defined]
    assert isinstance(auth, DeskAuth)
    return auth


def test_pages_send_strict_headers_and_no_inline_script(admin_client: TestClient) -> None:
    for r in (
        admin_client.get("/admin/login"),
        admin_client.get("/admin/", follow_redirects=False),
    ):
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    page = admin_client.get("/admin/login").text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None
    assert " style=" not in page and "<style" not in page


def test_wrong_token_is_refused_without_a_cookie(
    admin_client: TestClient, control: FakeControl
) -> None:
    for token in ("", "wrong-token-0123456789", TOKEN + "x", TOKEN[:-1]):
        r = admin_client.post("/admin/login", data={"token": token}, follow_redirects=False)
        assert r.status_code == 403
        assert "set-cookie" not in r.headers
        assert "Wrong admin token" in r.text
    assert admin_client.get("/admin/", follow_redirects=False).headers["location"] == "/admin/login"
    assert control.calls == []


def test_sign_in_shows_the_dashboards(admin_client: TestClient, control: FakeControl) -> None:
    sign_in(admin_client)
    page = admin_client.get("/admin/").text
    assert "d1-keynote-1" in page and "day1" in page
    assert 'id="disk-free"' in page
    assert ("status", None) in control.calls


def test_a_tampered_or_expired_cookie_is_refused(admin_client: TestClient) -> None:
    sign_in(admin_client)
    value = admin_client.cookies[COOKIE]
    body, sig = value.split(".")
    admin_client.cookies.set(COOKIE, body + "x." + sig, path="/admin")
    assert admin_client.get("/admin/", follow_redirects=False).status_code == 303
    admin_client.cookies.set(COOKIE, value, path="/admin")
    assert admin_client.get("/admin/", follow_redirects=False).status_code == 200
    auth = desk(admin_client)
    auth.clock = lambda: datetime.now(UTC).timestamp() + auth.lifetime_s + 1
    r = admin_client.get("/admin/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"


@pytest.mark.parametrize("csrf", [None, "", "x" * 43, "other-session"])
def test_sign_out_needs_the_session_csrf(admin_client: TestClient, csrf: str | None) -> None:
    good = sign_in(admin_client)
    if csrf == "other-session":
        auth = desk(admin_client)
        other = auth.session(auth.issue())
        assert other is not None
        csrf = auth.csrf(other)
    data = {} if csrf is None else {"csrf": csrf}
    r = admin_client.post("/admin/logout", data=data)
    assert r.status_code == 403
    assert admin_client.get("/admin/", follow_redirects=False).status_code == 200
    assert good


def test_sign_out_with_an_expired_session_is_refused(admin_client: TestClient) -> None:
    csrf = sign_in(admin_client)
    auth = desk(admin_client)
    auth.clock = lambda: datetime.now(UTC).timestamp() + auth.lifetime_s + 1
    assert admin_client.post("/admin/logout", data={"csrf": csrf}).status_code == 401


def test_sign_out_revokes_the_cookie(admin_client: TestClient) -> None:
    csrf = sign_in(admin_client)
    value = admin_client.cookies[COOKIE]
    r = admin_client.post("/admin/logout", data={"csrf": csrf})
    assert r.status_code == 200 and "Signed out" in r.text
    admin_client.cookies.set(COOKIE, value, path="/admin")  # a copy kept is no use either
    assert admin_client.get("/admin/", follow_redirects=False).status_code == 303


def test_a_huge_form_is_refused_before_sign_in(admin_client: TestClient) -> None:
    r = admin_client.post("/admin/login", data={"token": "x" * 20000}, follow_redirects=False)
    assert r.status_code == 413 and "set-cookie" not in r.headers


def test_needs_review_sessions_come_first() -> None:
    status = {
        "sessions": [
            {"id": "a", "state": "published", "start": "2026-05-01T09:00:00+09:00"},
            {
                "id": "b",
                "state": "published",
                "start": "2026-05-01T10:00:00+09:00",
                "needs_review": True,
            },
            {"id": "c", "state": "needs_review", "start": "2026-05-01T11:00:00+09:00"},
        ],
        "broadcasts": [
            {
                "id": "day1",
                "state": "capturing",
                "recording": {"updated_at": "2026-05-01T00:00:00+00:00", "gaps": 2},
            },
        ],
    }
    rows = dashboard_rows(status, datetime(2026, 5, 1, 0, 0, 30, tzinfo=UTC))
    assert [s["id"] for s in rows["sessions"]] == ["b", "c", "a"]
    assert rows["broadcasts"][0]["age_s"] == 30


def test_korean_and_english_are_both_complete(admin_client: TestClient) -> None:
    assert MESSAGES["en"].keys() == MESSAGES["ko"].keys()
    assert all(MESSAGES["ko"].values())
    r = admin_client.get("/admin/login?lang=ko")
    assert '<html lang="ko">' in r.text and "로그인" in r.text
    assert '<html lang="ko">' in admin_client.get("/admin/login").text  # remembered


ACTIONS = [
    ("accept", {"start": "2021-04-27T10:03:30+09:00", "end": "2021-04-27T10:52:00+09:00"}),
    ("reset", {}),
    ("mark", {"edge": "start", "at": "2021-04-27T10:03:30+09:00"}),
]


@pytest.mark.parametrize(("action", "fields"), ACTIONS)
def test_every_desk_action_needs_the_csrf_token(
    admin_client: TestClient, control: FakeControl, action: str, fields: dict[str, str]
) -> None:
    csrf = sign_in(admin_client)
    path = f"/admin/sessions/d1-newdeal/{action}"
    for bad in ({}, {"csrf": ""}, {"csrf": csrf[:-2] + "xx"}):
        r = admin_client.post(path, data={**fields, **bad}, follow_redirects=False)
        assert r.status_code == 403, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
    auth = desk(admin_client)
    auth.clock = lambda: datetime.now(UTC).timestamp() + auth.lifetime_s + 1
    assert admin_client.post(path, data={**fields, "csrf": csrf}).status_code == 401
    assert [c for c in control.calls if c[0] in ("cut", "mark", "accept")] == []


def test_accept_reset_and_mark_reach_the_orchestrator(
    admin_client: TestClient, control: FakeControl
) -> None:
    csrf = sign_in(admin_client)
    base = "/admin/sessions/d1-newdeal"
    fields = {"start": "2021-04-27T10:03:30+09:00", "end": "2021-04-27T10:52:00+09:00"}
    form = {**fields, "csrf": csrf, "revision": "4"}  # as the review page carries it
    r = admin_client.post(f"{base}/accept", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{base}?done=accept"
    r = admin_client.post(f"{base}/reset", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = admin_client.post(
        f"{base}/mark", data={"csrf": csrf, "edge": "end"}, follow_redirects=False
    )
    assert r.status_code == 303
    # accept posts the edited window to Control.accept, with the revision the page showed
    accepts = [c[1] for c in control.calls if c[0] == "accept"]
    assert accepts[0][1].start == datetime.fromisoformat(fields["start"])
    assert accepts[0][1].end == datetime.fromisoformat(fields["end"])
    assert accepts[0][1].revision == 4
    who = accepts[0][1].by
    assert who.startswith("desk-")  # no name given at sign-in: the session's label
    cuts = [c[1] for c in control.calls if c[0] == "cut"]
    assert cuts == [("d1-newdeal", cuts[0][1])] and cuts[0][1].start_offset_s == 0
    assert cuts[0][1].end_offset_s == 0 and cuts[0][1].by == who
    marks = [c[1] for c in control.calls if c[0] == "mark"]
    assert marks[0][1].edge == "end" and marks[0][1].by == who


def test_the_name_given_at_sign_in_signs_the_changes(
    admin_client: TestClient, control: FakeControl
) -> None:
    r = admin_client.post(
        "/admin/login", data={"token": TOKEN, "name": "  Kim  Minji "}, follow_redirects=False
    )
    assert r.status_code == 303
    page = admin_client.get("/admin/sessions/d1-newdeal").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found and 'name="revision" value="4"' in page
    r = admin_client.post(
        "/admin/sessions/d1-newdeal/mark",
        data={"csrf": found.group(1), "edge": "start"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    marks = [c[1] for c in control.calls if c[0] == "mark"]
    assert marks[0][1].by == "Kim Minji"


def test_bad_desk_input_is_refused_with_a_reason(
    admin_client: TestClient, control: FakeControl
) -> None:
    csrf = sign_in(admin_client)
    r = admin_client.post("/admin/sessions/d1-newdeal/accept", data={"csrf": csrf, "end": "soon"})
    assert r.status_code == 422 and "end" in r.text
    r = admin_client.post("/admin/sessions/d1-newdeal/mark", data={"csrf": csrf, "edge": "mid"})
    assert r.status_code == 422
    r = admin_client.post("/admin/sessions/nope/mark", data={"csrf": csrf, "edge": "start"})
    assert r.status_code == 404 and "nope" in r.text
    assert [c for c in control.calls if c[0] in ("cut", "mark", "accept")] == []


def test_the_review_page_without_a_recording(admin_client: TestClient) -> None:
    sign_in(admin_client)
    r = admin_client.get("/admin/sessions/d1-newdeal")
    assert r.status_code == 200
    assert "No preview" in r.text and 'id="accept"' in r.text
    assert admin_client.get("/admin/sessions/nope").status_code == 404
    assert admin_client.get("/admin/previews/../../etc/passwd").status_code == 404


def test_no_message_key_shadows_a_dict_method() -> None:
    """Templates read ``t.key``: a key named like a dict method would print the method."""
    assert not set(MESSAGES["en"]) & set(dir(dict))
