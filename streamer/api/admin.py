"""Admin API for the media team: bearer token, every call delegated to the orchestrator.

Routes are plain ``def``: the orchestrator's calls may block, so they run in the threadpool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from pydantic import ConfigDict

from streamer.api.deps import AdminDep, ControlDep
from streamer.api.models import ITEM_ID, ReloadResult, errors
from streamer.pipeline.control import AcceptRequest, CutRequest, MarkRequest


def _cut_rules(schema: dict[str, Any]) -> None:
    """Write CutRequest's rules into its JSON schema: at least one field, and never both the
    absolute and the offset form of the same end."""
    given = {
        "start": {"type": "string"},
        "end": {"type": "string"},
        "start_offset_s": {"type": "number"},
        "end_offset_s": {"type": "number"},
    }
    schema["anyOf"] = [{"required": [k], "properties": {k: v}} for k, v in given.items()]
    schema["not"] = {
        "anyOf": [
            {"required": [a, b], "properties": {a: given[a], b: given[b]}}
            for a, b in (("start", "start_offset_s"), ("end", "end_offset_s"))
        ]
    }


class CutBody(CutRequest):
    """Absolute times (ISO 8601; without an offset in the event's zone) or offsets in seconds
    from the scheduled start/end (negative = earlier); at least one of the four."""

    model_config = ConfigDict(json_schema_extra=_cut_rules)


router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[AdminDep])

SessionId = Annotated[str, Path(pattern=ITEM_ID, examples=["d1-keynote-1"])]
BroadcastId = Annotated[str, Path(pattern=ITEM_ID, examples=["day1"])]

_ACTION = errors(400, 401, 403, 404, 409, 413, 422, 503)

CUT_EXAMPLES = {
    "absolute": {
        "summary": "Absolute times (event zone when no offset is given)",
        "value": {"start": "2021-04-27T10:03:30+09:00", "end": "2021-04-27T10:52:00+09:00"},
    },
    "offsets": {
        "summary": "Seconds from the scheduled start/end (negative = earlier)",
        "value": {"start_offset_s": 210, "end_offset_s": 720},
    },
}


@router.get("/status", response_model=dict[str, Any], responses=errors(401, 403, 503))
def status(control: ControlDep) -> dict[str, Any]:
    """Broadcasts and sessions with their state, progress and last error."""
    return control.status()


@router.post(
    "/sessions/{session_id}/cut",
    response_model=dict[str, Any],
    # 400: a body that is not JSON at all (FastAPI's own answer, in our error shape)
    responses=errors(400, 401, 403, 404, 409, 422, 503),
)
def cut(
    control: ControlDep,
    session_id: SessionId,
    request: Annotated[CutBody, Body(openapi_examples=CUT_EXAMPLES)],
    http: Request,
) -> dict[str, Any]:
    """Correct a session's cut points, then re-split and republish it."""
    where = f"api {http.client.host}" if http.client else "api"  # for the audit log
    return control.cut(session_id, request, source=where)


@router.get(
    "/sessions/{session_id}/suggestion",
    response_model=dict[str, Any],
    responses=errors(401, 403, 404, 503),
)
def suggestion(control: ControlDep, session_id: SessionId) -> dict[str, Any]:
    """The suggested start and end of a session, its confidence and the signals behind it."""
    return control.suggest(session_id)


@router.post(
    "/sessions/{session_id}/mark",
    response_model=dict[str, Any],
    responses=errors(400, 401, 403, 404, 409, 422, 503),
)
def mark(
    control: ControlDep, session_id: SessionId, request: MarkRequest, http: Request
) -> dict[str, Any]:
    """Mark that a session started or ended (now, or at ``at``); marks are exact boundaries."""
    where = f"api {http.client.host}" if http.client else "api"
    return control.mark(session_id, request, where)


@router.post("/sessions/{session_id}/accept", response_model=dict[str, Any], responses=_ACTION)
def accept(
    control: ControlDep, session_id: SessionId, http: Request, request: AcceptRequest | None = None
) -> dict[str, Any]:
    """Accept a cut held for review (``cut_policy: review``) and publish it; 409 when the
    session is not held."""
    where = f"api {http.client.host}" if http.client else "api"
    return control.accept(session_id, request or AcceptRequest(), where)


@router.post("/sessions/{session_id}/publish", response_model=dict[str, Any], responses=_ACTION)
def publish(control: ControlDep, session_id: SessionId) -> dict[str, Any]:
    """Publish (or republish) a session's VOD."""
    return control.publish(session_id)


@router.post("/sessions/{session_id}/unpublish", response_model=dict[str, Any], responses=_ACTION)
def unpublish(control: ControlDep, session_id: SessionId) -> dict[str, Any]:
    """Remove a session's VOD from the index, then its objects."""
    return control.unpublish(session_id)


@router.post("/broadcasts/{broadcast_id}/record", response_model=dict[str, Any], responses=_ACTION)
def record(control: ControlDep, broadcast_id: BroadcastId) -> dict[str, Any]:
    """Start (or resume) capturing a broadcast now."""
    return control.record(broadcast_id)


@router.post("/broadcasts/{broadcast_id}/stop", response_model=dict[str, Any], responses=_ACTION)
def stop(control: ControlDep, broadcast_id: BroadcastId) -> dict[str, Any]:
    """Stop capturing a broadcast."""
    return control.stop(broadcast_id)


@router.post("/reload", response_model=ReloadResult, responses=errors(401, 403, 413, 422, 503))
def reload(control: ControlDep) -> dict[str, Any]:
    """Re-read the schedules and report which sessions were added, changed or removed."""
    return control.reload()
