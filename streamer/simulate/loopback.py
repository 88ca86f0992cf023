"""A threaded HTTP server on 127.0.0.1 answering GETs through a route, for simulated sites."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

M3U8_TYPE = "application/vnd.apple.mpegurl"
TS_TYPE = "video/mp2t"

# A route answers (status, content type, body); None means 404.
Response = tuple[int, str, bytes]
Route = Callable[[str], Response | None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            answer = self.server.route(path)
        except Exception:  # a broken route must not kill the server thread
            log.exception("simulated server route failed for %s", path)
            answer = (500, "text/plain", b"internal error\n")
        if answer is None:
            answer = (404, "text/plain", b"not found\n")
        status, ctype, body = answer
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many recorders connect at once in the benchmarks
    route: Route

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (a stopped recorder) are normal here, not worth a traceback.
        log.debug("simulated server: client %s went away", client_address)


class HttpServer:
    """A threaded HTTP server on 127.0.0.1 that answers GETs through ``route(path)``."""

    def __init__(self, route: Route, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.route = route
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_status(code: int) -> Response:
    """A plain error answer, for routes in tests."""
    return (code, "text/plain", f"{HTTPStatus(code).phrase}\n".encode())
