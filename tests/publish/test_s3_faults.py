"""Throttling, 5xx and refusals from the store, through a faulty proxy in front of moto."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from streamer.config import Settings
from streamer.errors import ConfigError, StorageError
from streamer.publish import LocalStorage, MemoryStorage, open_storage
from streamer.publish.catalog import Publisher, read_index
from streamer.publish.checksum import Checksum
from streamer.publish.s3 import S3Storage
from streamer.publish.s3_retry import RetryPolicy, is_transient

from .conftest import EVENT_ID, MotoS3
from .helpers import assert_sound

Rule = Callable[[str, str], tuple[int, str] | None]
"""(method, path) → (status, S3 error code) to answer instead of the store, or None."""


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.faults: list[tuple[str, str, int]] = []
        # (method, path, body) → the body to forward: damage in transit
        self.mangle: Callable[[str, str, bytes], bytes] | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                for rule in proxy.rules:
                    fault = rule(self.command, self.path)
                    if fault is not None:
                        status, code = fault
                        proxy.faults.append((self.command, self.path, status))
                        xml = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>"
                        self._reply(status, {"Content-Type": "application/xml"}, xml.encode())
                        return
                if proxy.mangle is not None:
                    body = proxy.mangle(self.command, self.path, body)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                resp = httpx.request(
                    self.command,
                    proxy.upstream + self.path,
                    headers=headers,
                    content=body,
                    timeout=60,
                )
                head = self.command == "HEAD"
                drop = {"transfer-encoding", "connection"} | (set() if head else {"content-length"})
                out = {k: v for k, v in resp.headers.items() if k.lower() not in drop}
                self._reply(resp.status_code, out, resp.content, head=head)

            def _reply(
                self, status: int, headers: dict[str, str], body: bytes, head: bool = False
            ) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if not head:  # a HEAD answer carries the object's length, not the body's
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto_s3: MotoS3) -> Iterator[FaultyProxy]:
    p = FaultyProxy(moto_s3.endpoint)
    yield p
    p.close()


def fail_first(n: int, status: int, code: str, method: str, path_end: str) -> Rule:
    left = [n]

    def rule(m: str, path: str) -> tuple[int, str] | None:
        if m == method and path.split("?")[0].endswith(path_end) and left[0] > 0:
            left[0] -= 1
            return status, code
        return None

    return rule


# botocore's own retries off, so every failure reaches (and tests) our retry layer
RETRY = RetryPolicy(
    total_s=20, initial_s=0.05, max_wait_s=0.5, connect_timeout_s=2, botocore_attempts=1
)


def _store(proxy: FaultyProxy, bucket: str, **kw: object) -> S3Storage:
    return S3Storage(
        bucket,
        "vods",
        endpoint_url=proxy.endpoint,
        path_style=True,
        part_size=5 * 1024 * 1024,
        retry=kw.pop("retry", RETRY),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("status", "code"), [(503, "SlowDown"), (500, "InternalError"), (429, "TooManyRequests")]
)
def test_throttling_and_5xx_are_retried(
    proxy: FaultyProxy, bucket: str, vod_dir: Path, status: int, code: str
) -> None:
    proxy.rules.append(fail_first(3, status, code, "PUT", f"{EVENT_ID}/d1-talk.json"))
    proxy.rules.append(fail_first(2, status, code, "PUT", f"{EVENT_ID}/index.json"))
    proxy.rules.append(fail_first(2, status, code, "HEAD", f"{EVENT_ID}/d1-keynote.mp4"))
    store = _store(proxy, bucket)
    records = Publisher(store).publish_dir(vod_dir)
    assert len(records) == 2
    assert len(proxy.faults) == 7
    index = read_index(store, EVENT_ID)
    assert index is not None and len(index["items"]) == 2
    assert assert_sound(store) == 2


class FakeTime:
    """A clock that moves only when slept on: retry budgets are counted, not waited out."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_refusal_is_not_retried(proxy: FaultyProxy, bucket: str, vod_dir: Path) -> None:
    proxy.rules.append(fail_first(100, 403, "AccessDenied", "PUT", ".json"))
    fake = FakeTime()
    store = _store(proxy, bucket, retry=replace(RETRY, clock=fake.clock, sleep=fake.sleep))
    with pytest.raises(StorageError, match="AccessDenied"):
        Publisher(store).publish_dir(vod_dir)
    assert fake.sleeps == []  # no wait, no retry of a refusal
    assert len(proxy.faults) == 1
    assert read_index(store, EVENT_ID) is None  # media went up; nothing points at them yet


def test_retry_budget_is_bounded(proxy: FaultyProxy, bucket: str, tmp_path: Path) -> None:
    proxy.rules.append(fail_first(10_000, 503, "SlowDown", "PUT", "a.json"))
    fake = FakeTime()
    quick = RetryPolicy(
        total_s=1.0,
        initial_s=0.05,
        max_wait_s=0.2,
        botocore_attempts=1,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    store = _store(proxy, bucket, retry=quick)
    with pytest.raises(StorageError, match="SlowDown"):
        store.put_bytes("e/a.json", b"{}", content_type="application/json", cache_control="c")
    # every attempt but the last was followed by one wait, each within the backoff's cap
    # (an attempt is one or more requests: botocore's own retries sit underneath)
    assert len(proxy.faults) >= len(fake.sleeps) + 1
    assert all(0 < s <= quick.max_wait_s + quick.initial_s for s in fake.sleeps)
    # it gave up as soon as the budget was spent, not before and not one wait later
    assert sum(fake.sleeps) >= quick.total_s > sum(fake.sleeps[:-1])
    assert len(proxy.faults) > 3


@pytest.mark.parametrize("algorithm", list(Checksum))
def test_a_part_damaged_in_transit_is_refused(
    proxy: FaultyProxy, bucket: str, tmp_path: Path, algorithm: Checksum
) -> None:
    """One byte of one part flipped between botocore and the store: the upload fails. S3
    refuses the part (its CRC differs from the signed header); moto stores it as sent, and the
    store's checksum of the object then differs from the one botocore's part CRCs give."""
    damaged: list[str] = []

    def flip(method: str, path: str, body: bytes) -> bytes:
        if method == "PUT" and "partNumber=2&" in path + "&" and not damaged:
            damaged.append(path)
            return body[:100] + bytes([body[100] ^ 1]) + body[101:]
        return body

    proxy.mangle = flip
    store = _store(proxy, bucket, checksum=algorithm)
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB: three 5 MiB parts
    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(StorageError, match="checksum"):
        store.put_file("e/v.mp4", path, content_type="video/mp4", cache_control="c", sha256=sha)
    assert damaged
    # the same upload without the damage goes through
    proxy.mangle = None
    store.put_file("e/v.mp4", path, content_type="video/mp4", cache_control="c", sha256=sha)


def test_is_transient() -> None:
    def client_error(status: int, code: str) -> ClientError:
        return ClientError(
            {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "PutObject",
        )

    assert is_transient(client_error(503, "SlowDown"))
    assert is_transient(client_error(500, "InternalError"))
    assert is_transient(client_error(400, "RequestTimeout"))
    assert is_transient(EndpointConnectionError(endpoint_url="http://x"))
    assert not is_transient(client_error(403, "AccessDenied"))
    assert not is_transient(client_error(404, "NoSuchKey"))
    assert not is_transient(ValueError("x"))
    try:
        try:
            raise client_error(503, "SlowDown")
        except ClientError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert is_transient(wrapped)


def test_open_storage(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    default = open_storage(settings)
    assert isinstance(default, LocalStorage) and default.root == (tmp_path / "data" / "public")
    assert default.url("e/a.mp4") == "/media/e/a.mp4"
    plain = open_storage(settings, str(tmp_path / "x"))
    assert isinstance(plain, LocalStorage) and plain.root == tmp_path / "x"
    assert isinstance(open_storage(settings, "memory://"), MemoryStorage)
    cdn = Settings(  # type: ignore[call-arg]
        _env_file=None,
        public_base_url="https://cdn.example.org/v",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_part_size_mb=6,
        s3_concurrency=3,
        s3_presign=True,
    )
    s3 = open_storage(cdn, "s3://media-bucket/site/vods/")
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix, s3.presign) == ("media-bucket", "site/vods", True)
    assert (
        s3.transfer.multipart_chunksize == 6 * 1024 * 1024
        and s3.transfer.max_request_concurrency == 3
    )
    assert s3.url("e/a.mp4") == "https://cdn.example.org/v/e/a.mp4"  # a CDN wins over presigning
    local_cdn = open_storage(cdn, (tmp_path / "y").as_uri())
    assert local_cdn.url("e/a.mp4") == "https://cdn.example.org/v/e/a.mp4"
    for bad in ("s3://", "ftp://host/x", "file://otherhost/x"):
        with pytest.raises(ConfigError):
            open_storage(settings, bad)
