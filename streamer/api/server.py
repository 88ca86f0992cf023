"""The uvicorn settings of the API server in one place: slow clients cannot hold it.

uvicorn has an idle keep-alive timeout but no limit on how long a client may take to send
its request headers: a client sending one byte a second keeps its connection (and a file
descriptor) forever. :class:`HeaderTimeoutH11` closes a connection whose request headers are
not complete ``header_timeout_s`` after it opened (or after its previous response).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from streamer.config import Settings


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request headers."""

    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            if self._header_timer is None:  # bytes of a next request on a kept-alive connection
                self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def protocol_class(header_timeout_s: float) -> type[HeaderTimeoutH11]:
    return type("HeaderTimeoutH11", (HeaderTimeoutH11,), {"header_timeout_s": header_timeout_s})


def uvicorn_config(
    app: Any, settings: Settings, *, host: str, port: int, **extra: Any
) -> uvicorn.Config:
    """The uvicorn.Config of the API: header deadline, keep-alive limit, connection cap."""
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "lifespan": "off",
        "http": protocol_class(settings.http_header_timeout_s),
        "timeout_keep_alive": settings.http_keepalive_s,
        "limit_concurrency": settings.http_max_connections,
        "h11_max_incomplete_event_size": 16 * 1024,
        "server_header": False,
    }
    options.update(extra)
    return uvicorn.Config(app, **options)
