"""The review page of one session: previews around its start and end, the suggestion's
markers, nudges, accept (re-cut and republish), reset to the schedule, marks, the audit log."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from streamer.api.deps import AppContext, ContextDep
from streamer.api.desk.auth import COOKIE
from streamer.api.desk.pages import Refused, checked_form
from streamer.api.desk.web import desk_auth, redirect, render, secure
from streamer.api.models import ITEM_ID
from streamer.errors import IllegalTransition, InvalidRequest, NotFoundError, StreamerError
from streamer.pipeline.control import AcceptRequest, Control, CutRequest, MarkRequest

router = APIRouter(prefix="/admin", include_in_schema=False)

_PREVIEW_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}\.(mp4|jpg)$")
_STATUS: list[tuple[type[StreamerError], int]] = [
    (NotFoundError, 404),
    (IllegalTransition, 409),
    (InvalidRequest, 422),
]


def _status_of(exc: StreamerError) -> int:
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 503)


def _problem(ctx: AppContext, request: Request, status: int, message: str) -> Response:
    return render(ctx, request, "message.html", status, message=message)


def _previews(control: Control, session_id: str, moments: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for edge, at in moments.items():
        try:
            out[edge] = control.preview(session_id, datetime.fromisoformat(at))
        except StreamerError as exc:
            out[edge] = {"error": str(exc)}
    return out


@router.get("/sessions/{session_id}")
def review_page(ctx: ContextDep, request: Request, session_id: str) -> Response:
    if desk_auth(request).session(request.cookies.get(COOKIE)) is None:
        return redirect(request, "/admin/login")
    if ctx.control is None:
        return _problem(ctx, request, 503, "the orchestrator is not running")
    if not re.fullmatch(ITEM_ID, session_id):
        return _problem(ctx, request, 404, f"no session {session_id!r}")
    try:
        info = ctx.control.review(session_id)
    except StreamerError as exc:
        return _problem(ctx, request, _status_of(exc), str(exc))
    try:
        suggestion: dict[str, Any] | None = ctx.control.suggest(session_id)
    except StreamerError as exc:
        suggestion, info["suggestion_error"] = None, str(exc)
    start = (suggestion or {}).get("suggested_start") or info["cut_start"]
    end = (suggestion or {}).get("suggested_end") or info["cut_end"]
    previews = _previews(ctx.control, session_id, {"start": start, "end": end})
    data = {
        "session": info,
        "suggestion": suggestion,
        "previews": previews,
        "proposed": {"start": start, "end": end},
    }
    return render(
        ctx,
        request,
        "review.html",
        s=info,
        suggestion=suggestion,
        previews=previews,
        proposed=data["proposed"],
        data=data,
        done=request.query_params.get("done"),
    )


@router.get("/previews/{name}")
def preview_file(ctx: ContextDep, request: Request, name: str) -> Response:
    if desk_auth(request).session(request.cookies.get(COOKIE)) is None:
        return _problem(ctx, request, 401, "sign in first")
    if ctx.control is None or not _PREVIEW_NAME.match(name):
        return _problem(ctx, request, 404, "no such preview")
    path = ctx.control.preview_dir() / name
    if not path.is_file():
        return _problem(ctx, request, 404, "no such preview")
    kind = "video/mp4" if name.endswith(".mp4") else "image/jpeg"
    return secure(FileResponse(path, media_type=kind), request)


async def _act(ctx: AppContext, request: Request, session_id: str, what: str) -> Response:
    """Check session → body → CSRF, then do ``what``; every refusal changes nothing."""
    try:
        form = await checked_form(request)
    except Refused as r:
        return render(ctx, request, "login.html", r.status, message=r.key)
    if ctx.control is None:
        return _problem(ctx, request, 503, "the orchestrator is not running")
    if not re.fullmatch(ITEM_ID, session_id):
        return _problem(ctx, request, 404, f"no session {session_id!r}")
    control = ctx.control
    where = f"desk {request.client.host}" if request.client else "desk"
    who = desk_auth(request).who(request.cookies.get(COOKIE))  # the signed-in identity
    try:
        if what == "accept":
            # the edited window, against the revision the page showed: of two operators
            # accepting at once, the second is refused (409) and only logged
            accept = AcceptRequest.model_validate(
                {
                    "start": form.get("start"),
                    "end": form.get("end"),
                    "by": who,
                    "revision": form.get("revision") or None,
                }
            )
            await run_in_threadpool(control.accept, session_id, accept, where)
        elif what == "reset":
            cut = CutRequest(start_offset_s=0, end_offset_s=0, by=who)
            await run_in_threadpool(functools.partial(control.cut, source=where), session_id, cut)
        else:
            mark = MarkRequest.model_validate(
                {"edge": form.get("edge"), "at": form.get("at") or None, "by": who}
            )
            await run_in_threadpool(control.mark, session_id, mark, where)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _problem(ctx, request, 422, problems)
    except StreamerError as exc:
        return _problem(ctx, request, _status_of(exc), str(exc))
    return redirect(request, f"/admin/sessions/{session_id}?done={what}")


@router.post("/sessions/{session_id}/accept")
async def accept(ctx: ContextDep, request: Request, session_id: str) -> Response:
    return await _act(ctx, request, session_id, "accept")


@router.post("/sessions/{session_id}/reset")
async def reset(ctx: ContextDep, request: Request, session_id: str) -> Response:
    return await _act(ctx, request, session_id, "reset")


@router.post("/sessions/{session_id}/mark")
async def mark(ctx: ContextDep, request: Request, session_id: str) -> Response:
    return await _act(ctx, request, session_id, "mark")
