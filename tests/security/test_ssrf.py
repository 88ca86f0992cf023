"""Issue 17 M4: sources and webhooks reach only public addresses unless the settings opt in."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from streamer.capture.hls import record
from streamer.config import Settings
from streamer.errors import BlockedSource, ResolveError
from streamer.netguard import Policy
from streamer.pipeline.webhooks import Notifier
from streamer.youtube import Resolver

SECRET = b"\x47" + b"internal-secret-do-not-publish" * 10


class Internal:
    """A server on 127.0.0.1 that remembers every path asked of it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{outer.port}/internal")
                    self.end_headers()
                    return
                if self.path == "/live.m3u8":
                    body = (
                        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                        "#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n"
                        f"http://127.0.0.1:{outer.port}/secret.ts\n#EXT-X-ENDLIST\n"
                    ).encode()
                    kind = "application/vnd.apple.mpegurl"
                else:
                    body, kind = SECRET, "video/mp2t"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal() -> Iterator[Internal]:
    server = Internal()
    yield server
    server.close()


def strict(tmp_path: Path, **extra: object) -> Settings:
    # explicit: other areas' fixtures opt in through the environment for the whole session
    extra.setdefault("allow_private_sources", False)
    return Settings(_env_file=None, data_dir=tmp_path / "data", **extra)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    with pytest.raises(BlockedSource, match="not a public address"):
        Policy().check(address, 80)
    # also when a name resolves to it: checked after DNS resolution
    policy = Policy(resolve=lambda host, port: ["93.184.216.34", address])
    with pytest.raises(BlockedSource, match=r"metadata\.example"):
        policy.check("metadata.example", 80)


def test_public_addresses_and_opt_ins_pass() -> None:
    assert Policy().check("93.184.216.34", 443) == "93.184.216.34"
    assert Policy(allow_private=True).check("127.0.0.1", 80) == "127.0.0.1"
    listed = Policy.from_settings(
        Settings(
            _env_file=None,
            allow_private_sources=False,
            source_allowlist=["10.0.0.0/8", "cam.local"],
        )  # type: ignore[call-arg]
    )
    assert listed.check("10.2.3.4", 80) == "10.2.3.4"
    with pytest.raises(BlockedSource):
        listed.check("192.168.0.1", 80)


def test_every_redirect_hop_is_checked_before_connecting(internal: Internal) -> None:
    policy = Policy(hosts=frozenset({"localhost"}))  # the playlist host is allowed by name

    async def go() -> None:
        async with httpx.AsyncClient(transport=policy.transport(), follow_redirects=True) as c:
            with pytest.raises(httpx.ConnectError, match="not a public address"):
                await c.get(f"http://localhost:{internal.port}/redirect")

    asyncio.run(go())
    assert internal.paths == ["/redirect"]  # /internal was never asked for


def test_a_segment_on_an_internal_host_is_never_fetched_or_saved(
    tmp_path: Path, internal: Internal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The playlist's host is allowed by name; its segment URI points at 127.0.0.1."""
    monkeypatch.delenv("STREAMER_ALLOW_PRIVATE_SOURCES", raising=False)
    settings = strict(tmp_path, source_allowlist=["localhost"])
    out = tmp_path / "rec"
    result = asyncio.run(
        record(
            f"http://localhost:{internal.port}/live.m3u8",
            out,
            settings=settings,
            resolver=Resolver(settings),
            duration_s=6,
            stall_timeout_s=3,
        )
    )
    assert "/secret.ts" not in internal.paths
    for path in out.rglob("*") if out.exists() else []:
        if path.is_file():
            assert b"internal-secret" not in path.read_bytes()
    assert result.segments == 0


def test_the_resolver_refuses_an_internal_url_before_yt_dlp_runs(
    tmp_path: Path, internal: Internal
) -> None:
    url = f"http://127.0.0.1:{internal.port}/live.m3u8"
    with pytest.raises(ResolveError, match="not a public address"):
        Resolver(strict(tmp_path)).resolve(url)
    assert internal.paths == []
    metadata = "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(BlockedSource):
        Resolver(strict(tmp_path)).resolve(metadata)


def test_the_resolver_refuses_a_redirect_into_an_internal_address(
    tmp_path: Path, internal: Internal
) -> None:
    settings = strict(tmp_path, source_allowlist=["localhost"])
    with pytest.raises(ResolveError, match="not a public address"):
        Resolver(settings).resolve(f"http://localhost:{internal.port}/redirect")


def test_webhooks_to_internal_addresses_are_refused(internal: Internal) -> None:
    notifier = Notifier(
        [f"http://127.0.0.1:{internal.port}/hook"], "s" * 32, attempts=1, backoff_s=0
    )

    async def go() -> None:
        notifier.emit("session.published", {"x": 1})
        await notifier.drain()

    asyncio.run(go())
    assert internal.paths == []
    allowed = Notifier(
        [f"http://127.0.0.1:{internal.port}/hook"],
        attempts=1,
        backoff_s=0,
        policy=Policy(allow_private=True),
    )

    async def go_allowed() -> None:
        allowed.emit("session.published", {"x": 1})
        await allowed.drain()

    asyncio.run(go_allowed())
    assert internal.paths == ["/hook"]
