"""Pure ASGI middlewares: request metrics with bounded labels, and the security headers."""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamer import metrics
from streamer.api.fastpath import ROUTE_KEY

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def metric_labels(scope: Scope, status: int) -> tuple[str, str, str]:
    """(route template, method, status), each from a bounded set: anything a client can
    invent (a method ``FOO1``, an unknown path, an odd status) is ``other``."""
    route = scope.get("route")
    template = scope.get(ROUTE_KEY) or getattr(route, "path", None) or OTHER
    method = str(scope.get("method", ""))
    status_label = str(status) if 100 <= status < 600 else OTHER
    return str(template), method if method in KNOWN_METHODS else OTHER, status_label


class RequestMetrics:
    """Observes every HTTP request by route template, method and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics.REQUEST_SECONDS.labels(*metric_labels(scope, status)).observe(
                time.perf_counter() - started
            )


# The viewer has no inline script or style; media may come from a CDN or S3 (https).
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "media-src 'self' https: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc load Swagger UI / ReDoc from jsDelivr with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src https://fonts.gstatic.com; worker-src blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
FILE_CSP = "frame-ancestors 'none'"  # /media and /static: played or shown by the browser
REFERRER_POLICY = "strict-origin-when-cross-origin"


class SecurityHeaders:
    """nosniff, Referrer-Policy and a Content-Security-Policy (with ``frame-ancestors``) on
    every response, ``/media`` included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                if html:
                    docs = path in ("/docs", "/redoc") or path.startswith("/docs/")
                    csp = DOCS_CSP if docs else HTML_CSP
                elif path.startswith(("/media/", "/static/")):
                    csp = FILE_CSP
                else:
                    csp = API_CSP
                headers.setdefault("Content-Security-Policy", csp)
                headers["X-Content-Type-Options"] = "nosniff"
                headers.setdefault("Referrer-Policy", REFERRER_POLICY)
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, with_headers)
