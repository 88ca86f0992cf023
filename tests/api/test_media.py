"""``/media``: Range requests on real MP4s, content types, and no path traversal."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streamer.config import Settings
from tests.api.conftest import EVENT_ID, Catalog, LiveServer

MP4 = f"/media/{EVENT_ID}/d1-keynote-1.mp4"


def raw_get(server: LiveServer, target: str, method: str = "GET") -> tuple[int, bytes]:
    """Send the request line as written (no client-side normalisation of ``..``)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_whole_file_with_type_and_cache(client: TestClient, catalog: Catalog) -> None:
    r = client.get(MP4)
    assert r.status_code == 200
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.content == catalog.storage.path_for(f"{EVENT_ID}/d1-keynote-1.mp4").read_bytes()
    assert "max-age" in r.headers["cache-control"]
    assert "content-encoding" not in r.headers
    jpg = client.get(f"/media/{EVENT_ID}/d1-keynote-1.jpg")
    assert jpg.headers["content-type"] == "image/jpeg"
    index = client.get(f"/media/{EVENT_ID}/index.json")
    assert index.headers["content-type"].startswith("application/json")
    assert index.json()["event"]["id"] == EVENT_ID


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=1000-1999", 1000, 1999), ("bytes=-500", None, None)],
)
def test_range_returns_206_with_the_right_bytes(
    client: TestClient, catalog: Catalog, range_header: str, start: int | None, end: int | None
) -> None:
    data = catalog.storage.path_for(f"{EVENT_ID}/d1-keynote-1.mp4").read_bytes()
    r = client.get(MP4, headers={"Range": range_header})
    assert r.status_code == 206
    if start is None:
        expected = data[-500:]
        start, end = len(data) - 500, len(data) - 1
    else:
        assert end is not None
        expected = data[start : end + 1]
    assert r.content == expected
    assert r.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert int(r.headers["content-length"]) == len(expected)


def test_open_ended_and_unsatisfiable_ranges(client: TestClient, catalog: Catalog) -> None:
    size = catalog.storage.path_for(f"{EVENT_ID}/d1-keynote-1.mp4").stat().st_size
    r = client.get(MP4, headers={"Range": f"bytes={size - 10}-"})
    assert r.status_code == 206
    assert len(r.content) == 10
    assert client.get(MP4, headers={"Range": f"bytes={size + 10}-"}).status_code == 416


def test_head_and_conditional(client: TestClient) -> None:
    head = client.head(MP4)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 1000
    again = client.get(MP4, headers={"If-None-Match": head.headers["etag"]})
    assert again.status_code == 304


def test_only_get_and_head(client: TestClient) -> None:
    assert client.post(MP4).status_code == 405
    assert client.delete(MP4).status_code == 405


@pytest.fixture
def outside(settings: Settings, catalog: Catalog) -> Path:
    """A secret next to the store's root, a symlink pointing at it, and a hidden temp file."""
    secret = settings.data_dir / "secret.txt"
    secret.write_text("top secret")
    root = catalog.storage.root
    os.symlink(secret, root / EVENT_ID / "link.mp4")
    os.symlink(settings.data_dir, root / "up")
    (root / EVENT_ID / ".index.json.tmp").write_text("partial")
    return secret


TRAVERSALS = [
    "/media/../secret.txt",
    "/media/%2e%2e/secret.txt",
    "/media/%2E%2E/secret.txt",
    "/media/..%2fsecret.txt",
    "/media/%2e%2e%2fsecret.txt",
    f"/media/{EVENT_ID}/../../secret.txt",
    f"/media/{EVENT_ID}/%2e%2e/%2e%2e/secret.txt",
    "/media/%252e%252e/secret.txt",
    "/media//secret.txt",
    f"/media/{Path('/').resolve()}etc/passwd",
    "/media/%2Fetc%2Fpasswd",
    "/media/..%5csecret.txt",
    "/media/.%2e/secret.txt",
    f"/media/{EVENT_ID}/link.mp4",
    "/media/up/secret.txt",
    f"/media/{EVENT_ID}/.index.json.tmp",
    f"/media/{EVENT_ID}",
    "/media/",
    "/media/x%00.mp4",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_no_path_traversal(live_server: LiveServer, outside: Path, target: str) -> None:
    status, body = raw_get(live_server, target)
    assert b"top secret" not in body
    assert b"partial" not in body
    assert status in (400, 404), (target, status)


def test_traversal_through_the_test_client(client: TestClient, outside: Path) -> None:
    for target in TRAVERSALS:
        r = client.get(target)
        assert r.status_code in (400, 404), target
        assert b"top secret" not in r.content


def test_a_real_server_serves_ranges(live_server: LiveServer, catalog: Catalog) -> None:
    status, body = raw_get(live_server, MP4)
    assert status == 200
    assert body == catalog.storage.path_for(f"{EVENT_ID}/d1-keynote-1.mp4").read_bytes()
