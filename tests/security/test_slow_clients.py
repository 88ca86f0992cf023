"""Issue 17 M5: slow clients cannot hold the server (header deadline, keep-alive, cap)."""

from __future__ import annotations

import selectors
import socket
import time

import httpx

from tests.security.conftest import StartServer

CONNECTIONS = 200
HEADER_TIMEOUT_S = 3
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64


def test_200_slow_header_senders_neither_block_healthz_nor_stay_open(
    start_server: StartServer,
) -> None:
    server = start_server(STREAMER_HTTP_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S))
    sel = selectors.DefaultSelector()
    slow = []
    for _ in range(CONNECTIONS):
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
        slow.append(sock)
    closed: set[socket.socket] = set()
    worst = 0.0
    started = time.monotonic()
    # one header byte a second on every connection, for at most three header deadlines
    for second in range(3 * HEADER_TIMEOUT_S):
        for sock in slow:
            if sock not in closed:
                try:
                    sock.send(REQUEST[second : second + 1])
                except OSError:
                    closed.add(sock)
        t0 = time.monotonic()
        assert httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200
        worst = max(worst, time.monotonic() - t0)
        # wait out the rest of this second watching for the server closing connections
        while (left := started + second + 1 - time.monotonic()) > 0:
            for key, _ in sel.select(timeout=left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(1024)
                except OSError:
                    data = b""
                if not data:
                    closed.add(sock)
                    sel.unregister(sock)
        if len(closed) == CONNECTIONS:
            break
    for sock in slow:
        sock.close()
    assert worst < 1.0
    # every slow connection was closed by the server after the header deadline
    assert len(closed) == CONNECTIONS, f"{CONNECTIONS - len(closed)} slow connections still open"
    assert time.monotonic() - started < 3 * HEADER_TIMEOUT_S + 1
