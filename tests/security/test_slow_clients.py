"""Issue 17 M5: slow clients cannot hold the server (header deadline, keep-alive, cap).

Speed-free: what is checked is that /healthz answers while all the slow connections are held
open (success, not latency), and that the server closes every one of them, none before its
header deadline. Timeouts are only hang guards.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time

import httpx

from tests.security.conftest import StartServer

CONNECTIONS = 200
# long enough that a loaded machine opens all the connections and asks /healthz inside it
HEADER_TIMEOUT_S = 6
HANG_S = 120.0
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64


def test_200_slow_header_senders_neither_block_healthz_nor_stay_open(
    start_server: StartServer,
) -> None:
    server = start_server(STREAMER_HTTP_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S))
    sel = selectors.DefaultSelector()
    opened: dict[socket.socket, float] = {}
    for _ in range(CONNECTIONS):
        began = time.monotonic()  # before connect: the server's deadline starts later
        sock = socket.create_connection((server.host, server.port), timeout=HANG_S)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
        opened[sock] = began
    closed: dict[socket.socket, float] = {}

    def watch(timeout: float) -> None:
        """Note the connections the server closed (EOF) within ``timeout``."""
        for key, _ in sel.select(timeout=timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(1024)
            except OSError:
                data = b""
            if not data:
                closed[sock] = time.monotonic()
                sel.unregister(sock)

    healthz_while_held = 0
    guard = time.monotonic() + HEADER_TIMEOUT_S + HANG_S
    sent = 0
    # one header byte a round on every open connection (the request never completes)
    while len(closed) < CONNECTIONS:
        assert time.monotonic() < guard, f"{CONNECTIONS - len(closed)} slow connections open"
        for sock in opened:
            if sock not in closed:
                with contextlib.suppress(OSError):  # closed by the server: its EOF is read below
                    sock.send(REQUEST[sent : sent + 1])
        sent = min(sent + 1, len(REQUEST) - 2)  # never the final CRLF CRLF
        assert httpx.get(f"{server.url}/healthz", timeout=HANG_S).status_code == 200
        watch(0)
        if not closed:
            healthz_while_held += 1  # answered while all 200 were still held open
        watch(1.0)  # the pace of the slow senders, watching for closes meanwhile
    for sock in opened:
        sock.close()
    assert healthz_while_held >= 1, "/healthz never answered while the slow clients held on"
    # closed by the header deadline: none before it (client clock, started before connect)
    early = [closed[s] - opened[s] for s in opened if closed[s] - opened[s] < HEADER_TIMEOUT_S]
    assert early == [], early
