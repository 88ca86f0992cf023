"""The capture's aiohttp fetcher: the SSRF policy on every hop, limits, errors, one shared pool.

A loopback server (127.0.0.1) stands for both a public host and an internal one: the policy
allows it by name (``localhost``) or not at all.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streamer.capture.fetch import AiohttpFetcher, fetch_retrying, shared_fetcher
from streamer.errors import CaptureError, FetchError
from streamer.netguard import Policy

BODY = b"\x47" * 188 * 50


class Server:
    def __init__(self) -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                port = outer.port
                if self.path.startswith("/to-literal"):  # a named host sends us to an address
                    return self._answer(302, b"", location=f"http://127.0.0.1:{port}/seg")
                if self.path.startswith("/to-name"):
                    return self._answer(302, b"", location=f"http://localhost:{port}/seg")
                if self.path == "/relative":
                    return self._answer(301, b"", location="/seg")
                if self.path == "/loop":
                    return self._answer(302, b"", location="/loop")
                if self.path == "/busy":
                    return self._answer(503, b"busy")
                if self.path == "/gone":
                    return self._answer(404, b"")
                if self.path == "/chunked":  # no Content-Length: the limit is counted
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for _ in range(4):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(BODY), BODY))
                    self.wfile.write(b"0\r\n\r\n")
                    return None
                return self._answer(200, BODY)

            def _answer(self, status: int, body: bytes, location: str | None = None) -> None:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.server.shutdown()
    s.server.server_close()


OPEN = Policy(allow_private=True)
BY_NAME = Policy(hosts=frozenset({"localhost"}))  # localhost allowed, 127.0.0.1 as such not


def _get(policy: Policy, url: str, limit: int = 1 << 20) -> bytes:
    async def go() -> bytes:
        fetcher = AiohttpFetcher(policy)
        try:
            return await fetcher.get(url, limit)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def test_bodies_and_redirects(server: Server) -> None:
    assert _get(OPEN, server.url("/seg")) == BODY
    assert _get(OPEN, server.url("/relative")) == BODY
    assert _get(BY_NAME, server.url("/to-name", "localhost")) == BODY
    assert _get(OPEN, server.url("/chunked")) == BODY * 4


def test_every_hop_is_checked_before_connecting(server: Server) -> None:
    with pytest.raises(FetchError, match="not a public address"):
        _get(BY_NAME, server.url("/to-literal", "localhost"))
    assert server.paths == ["/to-literal"]  # /seg on the literal address was never asked for
    with pytest.raises(FetchError, match="not a public address"):
        _get(Policy(), server.url("/seg", "localhost"))  # the name resolves to loopback
    with pytest.raises(FetchError, match="not a public address"):
        _get(Policy(), server.url("/seg"))
    assert server.paths == ["/to-literal"]


def test_limits_and_errors(server: Server) -> None:
    with pytest.raises(CaptureError, match="too large"):
        _get(OPEN, server.url("/seg"), limit=100)
    with pytest.raises(CaptureError, match="larger than"):
        _get(OPEN, server.url("/chunked"), limit=len(BODY) * 2)
    with pytest.raises(FetchError) as busy:
        _get(OPEN, server.url("/busy"))
    assert busy.value.status == 503 and busy.value.transient
    with pytest.raises(FetchError) as gone:
        _get(OPEN, server.url("/gone"))
    assert gone.value.status == 404 and not gone.value.transient
    with pytest.raises(FetchError, match="redirects"):
        _get(OPEN, server.url("/loop"))
    with pytest.raises(FetchError) as refused:
        _get(OPEN, f"http://127.0.0.1:{_closed_port()}/seg")
    assert refused.value.transient and refused.value.status is None


def test_retries_wait_with_the_injected_sleep(server: Server) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def go() -> None:
        fetcher = AiohttpFetcher(OPEN)
        try:
            with pytest.raises(FetchError):
                await fetch_retrying(fetcher, server.url("/busy"), 1 << 20, sleep)
        finally:
            await fetcher.aclose()

    asyncio.run(go())
    assert server.paths.count("/busy") == 4 and len(waits) == 3


def test_recordings_in_one_loop_share_one_session() -> None:
    async def go() -> None:
        async with shared_fetcher(OPEN) as a, shared_fetcher(Policy(allow_private=True)) as b:
            assert a is b
            async with shared_fetcher(BY_NAME) as other:
                assert other is not a
            assert not a.session.closed
        assert a.session.closed  # the last user closed it

    asyncio.run(go())


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
