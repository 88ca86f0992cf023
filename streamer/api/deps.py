"""Dependencies of the routes, as ``Annotated`` aliases (one place, as in the FastAPI template)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment

from streamer.api.errors import ApiError
from streamer.api.guard import auth_problem
from streamer.api.vodindex import Snapshot, VodIndex
from streamer.config import Settings
from streamer.pipeline.control import Control
from streamer.publish.storage import Storage
from streamer.schedule.model import Program


@dataclass
class AppContext:
    """Everything the routes share; built once by ``create_app``."""

    settings: Settings
    storage: Storage
    index: VodIndex
    templates: Environment
    control: Control | None = None
    programs: Callable[[], list[Program]] = list
    admin_token: str = ""
    ready_checks: list[Callable[[], None]] = field(default_factory=list)


def get_context(request: Request) -> AppContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, AppContext)
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_snapshot(ctx: ContextDep) -> Snapshot:
    return await ctx.index.current()


SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="`Authorization: Bearer $STREAMER_ADMIN_TOKEN`",
)


async def require_admin(
    request: Request,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """401 without (or with a malformed) bearer token, 403 with a wrong one.

    RequestGuard already refused such requests before their body was read; this repeats the
    check for apps built without it and documents the scheme in OpenAPI."""
    problem = auth_problem(request.headers.get("authorization"), ctx.admin_token)
    if problem is not None:
        status, code, message, challenge = problem
        raise ApiError(
            status, code, message, headers={"WWW-Authenticate": challenge} if challenge else None
        )


AdminDep = Depends(require_admin)


async def get_control(ctx: ContextDep) -> Control:
    if ctx.control is None:
        raise ApiError(503, "orchestrator_unavailable", "orchestrator not running")
    return ctx.control


ControlDep = Annotated[Control, Depends(get_control)]
