"""Issue 17 M1: the token is checked and the body size capped before a body is read."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import httpx

from tests.conftest import TEST_TOKEN
from tests.security.conftest import StartServer

BODY_MB = 200
CHUNK = b"[" + b"1," * (512 * 1024 - 1) + b"1]"  # 1 MiB of JSON, sent again and again


def json_chunks(total_mb: int) -> Iterator[bytes]:
    for _ in range(total_mb):
        yield CHUNK


def post_big(host: str, port: int, path: str, *, auth: str | None, chunked: bool) -> int:
    """POST 200 MB (from a generator) on a raw socket, reading the answer as soon as it
    comes; returns its status. Stops sending once the server has answered and closed."""
    head = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/json"]
    if auth:
        head.append(f"Authorization: Bearer {auth}")
    length = f"Content-Length: {BODY_MB * len(CHUNK)}"
    head.append("Transfer-Encoding: chunked" if chunked else length)
    answer = b""
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for chunk in json_chunks(BODY_MB):
            frame = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(frame)
            except OSError:  # the server answered and closed: the rest is never read
                break
        while b"\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split()[1])


def test_unauthenticated_200mb_body_is_refused_and_rss_stays_flat(
    start_server: StartServer,
) -> None:
    server = start_server()
    for _ in range(3):  # warm the paths first, so that only the bodies could grow the peak
        httpx.post(f"{server.url}/api/v1/admin/reload", content=b"{}")
    before = server.status("VmHWM")
    statuses = [
        post_big(server.host, server.port, "/api/v1/admin/reload", auth=None, chunked=False),
        post_big(server.host, server.port, "/api/v1/admin/reload", auth=None, chunked=True),
        post_big(server.host, server.port, "/api/v1/admin/reload", auth="x" * 40, chunked=True),
        post_big(
            server.host, server.port, "/api/v1/admin/sessions/x/cut", auth=TEST_TOKEN, chunked=True
        ),
        post_big(server.host, server.port, "/api/v1/vods", auth=None, chunked=False),
    ]
    grown_mb = (server.status("VmHWM") - before) / 1024
    assert statuses == [401, 401, 403, 413, 413]
    assert grown_mb < 20, f"the server's peak RSS grew by {grown_mb:.0f} MB"
    assert httpx.get(f"{server.url}/healthz").status_code == 200
