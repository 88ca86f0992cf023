"""A response cache in front of the router for the hot public reads.

The first ``GET /api/v1/vods?...`` with a given raw path and query goes through FastAPI
(validation, filters, serialization); its body is remembered in the current catalog
snapshot under that raw key. Repeats of the same request are answered from here (200 or
304) without routing, dependency injection or validation. A new snapshot (a publish) starts
with an empty cache, so nothing stale is served.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamer.api.httpcache import cached_response
from streamer.api.vodindex import VodIndex
from streamer.errors import StorageError

PREFIX = "/api/v1/vods"
PUBLIC = "/api/v1/"
STALE_HEADER = "X-Catalog-Stale"
"""Set (``true``) while storage fails and the last good catalog is served."""
ROUTE_KEY = "streamer.route"
"""Scope key naming the route template of a cached answer, for the request metrics."""


def raw_key(scope: Scope) -> bytes:
    return str(scope["path"]).encode() + b"?" + bytes(scope.get("query_string", b""))


class CachedReads:
    def __init__(self, app: ASGIApp, index: VodIndex, cache_control: str) -> None:
        self.app = app
        self.index = index
        self.cache_control = cache_control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(PUBLIC):
            send = self._marking(send)
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and str(scope["path"]).startswith(PREFIX)
        ):
            try:
                snap = await self.index.current()
            except StorageError:
                snap = None  # the route answers with the error
            hit = snap.recall(raw_key(scope)) if snap is not None else None
            if hit is not None:
                route, cached = hit
                scope[ROUTE_KEY] = route
                response = cached_response(
                    Headers(scope=scope), cached, cache_control=self.cache_control
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _marking(self, send: Send) -> Send:
        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start" and self.index.stale:
                headers = MutableHeaders(scope=message)
                headers[STALE_HEADER] = "true"
                headers["Cache-Control"] = "no-cache"
            await send(message)

        return marked
