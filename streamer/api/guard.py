"""The front door (a pure ASGI middleware): the admin token and body caps, before any read.

FastAPI reads and parses a JSON body before a dependency such as ``require_admin`` runs, so
an unauthenticated 200 MB body used to be held in memory in full. Here the token is checked
from the headers alone, a declared ``Content-Length`` over the cap gets 413 at once, and a
chunked body is counted as it arrives and cut off at the cap.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamer.api.errors import error_response

ADMIN_PREFIX = "/api/v1/admin"
ADMIN_BODY_MAX = 1024 * 1024  # admin JSON bodies are a few hundred bytes
OTHER_BODY_MAX = 16 * 1024  # the public side takes no bodies at all
_CHALLENGE = 'Bearer realm="streamer-admin"'


class BodyTooLarge(HTTPException):
    """FastAPI's own HTTPException: its body reader re-raises it (any other error is a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def token_matches(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>`` with exactly ``token``'s bytes, in constant time."""
    if not token or header is None:
        return False
    scheme, sep, given = header.partition(" ")
    if not sep or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())


def auth_problem(header: str | None, token: str) -> tuple[int, str, str, str] | None:
    """(status, code, message, WWW-Authenticate) when the admin request must be refused."""
    scheme, sep, given = (header or "").partition(" ")
    if not sep or scheme.lower() != "bearer" or not given:
        message = "admin routes need 'Authorization: Bearer <token>'"
        return 401, "unauthorized", message, _CHALLENGE
    if not token:
        return 503, "admin_disabled", "admin API disabled: STREAMER_ADMIN_TOKEN is not set", ""
    if not token_matches(header, token):
        return 403, "forbidden", "wrong admin token", _CHALLENGE + ', error="invalid_token"'
    return None


class RequestGuard:
    """Refuses unauthenticated admin requests and oversized bodies without reading them."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path = str(scope["path"])
        admin = path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
        if admin and scope["method"] != "OPTIONS":
            problem = auth_problem(headers.get("authorization"), self.token)
            if problem is not None:
                status, code, message, challenge = problem
                extra = {"WWW-Authenticate": challenge} if challenge else None
                await _answer(scope, receive, send, status, code, message, extra)
                return
        limit = ADMIN_BODY_MAX if admin else OTHER_BODY_MAX
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            message = f"request body larger than {limit} bytes"
            await _answer(scope, receive, send, 413, "too_large", message, None)
            return
        await self._capped(scope, receive, send, limit)

    async def _capped(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:
            if started:
                raise
            await _answer(scope, receive, send, 413, "too_large", str(exc.detail), None)


async def _answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: dict[str, Any] | None,
) -> None:
    # Connection: close, so the server does not go on reading the unread body
    extra = {**(headers or {}), "Connection": "close"}
    response = error_response(status, code, message, headers=extra)
    await response(scope, receive, send)
