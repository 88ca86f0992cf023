"""Request latency into ``streamer_http_request_seconds`` (a pure ASGI middleware)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamer import metrics
from streamer.api.fastpath import ROUTE_KEY


class RequestMetrics:
    """Observes every HTTP request by route template (``unmatched`` when none), method, status."""

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
            route = scope.get("route")
            template = scope.get(ROUTE_KEY) or getattr(route, "path", None) or "unmatched"
            metrics.REQUEST_SECONDS.labels(template, scope["method"], str(status)).observe(
                time.perf_counter() - started
            )
