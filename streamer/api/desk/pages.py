"""The desk's pages under ``/admin/``: sign-in/out and the dashboards.

Order of checks on every POST: the session cookie first (before any body is read), then the
form (capped), then its CSRF token; a refusal changes nothing.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from streamer.api.deps import ContextDep
from streamer.api.desk.auth import COOKIE
from streamer.api.desk.web import (
    FormTooLarge,
    desk_auth,
    read_form,
    redirect,
    render,
    set_session,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


class Refused(Exception):
    """A desk request refused before anything changed: rendered as a page with a status."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


async def checked_form(request: Request) -> dict[str, str]:
    """Session, then body, then CSRF; raises Refused."""
    auth = desk_auth(request)
    nonce = auth.session(request.cookies.get(COOKIE))
    if nonce is None:
        raise Refused(401, "expired")
    try:
        form = await read_form(request)
    except FormTooLarge:
        raise Refused(413, "csrf") from None
    if not auth.csrf_ok(nonce, form.get("csrf")):
        raise Refused(403, "csrf")
    return form


@router.get("")
def desk_root(request: Request) -> Response:
    return redirect(request, "/admin/")


@router.get("/login")
def login_page(ctx: ContextDep, request: Request) -> Response:
    return render(ctx, request, "login.html", message=None)


@router.post("/login")
async def login(ctx: ContextDep, request: Request) -> Response:
    auth = desk_auth(request)
    if not auth.admin_token:
        return render(ctx, request, "login.html", 503, message="no_token")
    try:
        form = await read_form(request)
    except FormTooLarge:
        return render(ctx, request, "login.html", 413, message="wrong_token")
    if not auth.token_ok(form.get("token", "")):
        return render(ctx, request, "login.html", 403, message="wrong_token")
    response = redirect(request, "/admin/")
    set_session(response, request, auth.issue(form.get("name", "")))
    return response


@router.post("/logout")
async def logout(ctx: ContextDep, request: Request) -> Response:
    try:
        await checked_form(request)
    except Refused as r:
        return render(ctx, request, "login.html", r.status, message=r.key)
    desk_auth(request).revoke(request.cookies.get(COOKIE))
    response = render(ctx, request, "login.html", message="signed_out")
    response.delete_cookie(COOKIE, path="/admin")
    return response


def _age_s(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    return max(0.0, (now - datetime.fromisoformat(stamp)).total_seconds())


def _review_first(s: dict[str, Any]) -> tuple[int, str]:
    waiting = bool(s.get("needs_review")) or s.get("state") == "needs_review"
    return (0 if waiting else 1, str(s.get("start") or ""))


def dashboard_rows(status: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Sessions (needs-review first) and broadcasts as the dashboard shows them."""
    sessions = sorted(status.get("sessions", []), key=_review_first)
    broadcasts = []
    for b in status.get("broadcasts", []):
        rec = b.get("recording") or {}
        broadcasts.append({**b, "rec": rec, "age_s": _age_s(rec.get("updated_at"), now)})
    return {"sessions": sessions, "broadcasts": broadcasts}


@router.get("/")
def dashboard(ctx: ContextDep, request: Request) -> Response:
    if desk_auth(request).session(request.cookies.get(COOKIE)) is None:
        return redirect(request, "/admin/login")
    rows: dict[str, Any] = {"sessions": [], "broadcasts": []}
    if ctx.control is not None:
        rows = dashboard_rows(ctx.control.status(), datetime.now(UTC))
    try:
        free: int | None = shutil.disk_usage(ctx.settings.data_dir).free
    except OSError:
        free = None
    return render(
        ctx,
        request,
        "dashboard.html",
        available=ctx.control is not None,
        disk_free_gb=None if free is None else round(free / 1e9, 1),
        **rows,
    )
