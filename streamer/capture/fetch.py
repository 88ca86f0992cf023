"""The poller's one way onto the network: a :class:`Fetcher` and the retrying GET.

Every HTTP request of the capture (master and media playlists, segments) goes through a
:class:`Fetcher`, so the SSRF guard hooks in at one place, and the client's errors are
translated here, once, into :class:`~streamer.errors.FetchError`.

The default is :class:`AiohttpFetcher`: aiohttp's client (C HTTP parser, one buffer per
body) costs ~0.7 ms of CPU per GET here against ~2.2 ms for httpx with the guarded transport,
and a recording makes two GETs a segment, so this is most of a recorder's CPU
(docs/benchmarks/capture.md). Recordings in one event loop share one session and its
keep-alive pool (:func:`shared_fetcher`). :class:`HttpxFetcher` wraps an ``httpx.AsyncClient``
a caller hands in (tests with ``httpx.MockTransport``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from streamer import __version__
from streamer.errors import BlockedSource, CaptureError, FetchError
from streamer.netguard import Policy, _is_literal

# GETs with retries: this many attempts in all; between them 0.25 s, 0.5 s, 1 s (at most
# 2 s), each plus up to 0.25 s of jitter.
RETRY_ATTEMPTS = 4
RETRY_WAIT_S = 0.25
RETRY_MAX_WAIT_S = 2.0
RETRY_JITTER_S = 0.25
MAX_REDIRECTS = 10
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
_TRANSIENT_STATUS = (408, 425, 429)
_REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = f"streamer/{__version__}"


class Fetcher(Protocol):
    async def get(self, url: str, limit: int) -> bytes:
        """GET ``url`` whole, at most ``limit`` bytes. Raises FetchError (HTTP status or
        transport trouble, ``transient`` set when a retry can help) or CaptureError (too
        large)."""
        ...


def _http_error(url: str, status: int) -> FetchError:
    transient = status >= 500 or status in _TRANSIENT_STATUS
    return FetchError(url, f"HTTP {status}", status=status, transient=transient)


def _too_large(url: str, size: int | str, limit: int) -> CaptureError:
    return CaptureError(f"{url}: response of {size} bytes is too large (limit {limit})")


# ---- aiohttp (the default) -------------------------------------------------------------


class _Blocked(OSError):
    """A refused address, as the OSError aiohttp expects of a resolver."""

    def __init__(self, blocked: BlockedSource) -> None:
        super().__init__(str(blocked))
        self.blocked = blocked


def _blocked_in(exc: BaseException) -> BlockedSource | None:
    """The policy's refusal behind an aiohttp connection error, if that is what it was."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, _Blocked):
            return cur.blocked
        nested = getattr(cur, "os_error", None)
        cur = nested if isinstance(nested, BaseException) else cur.__cause__ or cur.__context__
    return None


class _GuardedResolver(AbstractResolver):
    """Names resolve only to addresses the policy allows; aiohttp connects to the address
    returned here (checked once per name and DNS-cache period, not once per request)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addr = await asyncio.to_thread(self.policy.check, host, port)
        except BlockedSource as exc:
            raise _Blocked(exc) from exc  # aiohttp reports it as a connection error
        return [
            {
                "hostname": host,
                "host": addr,
                "port": port,
                "family": socket.AF_INET6 if ":" in addr else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


class AiohttpFetcher:
    """GETs through one aiohttp session under the SSRF ``policy``.

    Redirects are followed here, hop by hop, so every hop is checked: a literal address in
    the URL against the policy before connecting, a name by the guarded resolver."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=0,  # one keep-alive connection per concurrent GET, however many streams
                resolver=_GuardedResolver(policy),
                ttl_dns_cache=60,
            ),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S
            ),
            headers={"User-Agent": USER_AGENT},
            cookie_jar=aiohttp.DummyCookieJar(),  # HLS needs none; a jar costs per request
        )

    def _check(self, url: URL) -> None:
        if url.scheme not in ("http", "https"):
            raise BlockedSource(f"only http(s) URLs may be fetched, not {url.scheme or '?'}:")
        host = url.raw_host or ""
        if _is_literal(host):  # aiohttp does not ask the resolver for a literal address
            self.policy.check(host, url.port or 0)

    async def get(self, url: str, limit: int) -> bytes:
        current = URL(url, encoded=True)  # the exact URL the playlist gave
        for _ in range(MAX_REDIRECTS + 1):
            try:
                self._check(current)
                async with self.session.get(current, allow_redirects=False) as response:
                    status = response.status
                    location = response.headers.get("Location")
                    if status in _REDIRECTS and location:
                        current = current.join(URL(location, encoded=True))
                        continue
                    if status >= 400:
                        raise _http_error(url, status)
                    declared = response.content_length
                    if declared is not None:
                        if declared > limit:
                            raise _too_large(url, declared, limit)
                        return await response.read()  # one buffer of the declared size
                    return await _read_limited(response, url, limit)
            except BlockedSource as exc:
                raise FetchError(url, str(exc), transient=True) from exc
            except TimeoutError as exc:
                raise FetchError(url, f"timeout ({type(exc).__name__})", transient=True) from exc
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                blocked = _blocked_in(exc)
                if blocked is not None:
                    raise FetchError(url, str(blocked), transient=True) from exc
                raise FetchError(url, f"{type(exc).__name__}: {exc}", transient=True) from exc
            except (aiohttp.ClientError, ValueError) as exc:  # e.g. an invalid URL
                raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")

    async def aclose(self) -> None:
        await self.session.close()


async def _read_limited(response: aiohttp.ClientResponse, url: str, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise CaptureError(f"{url}: response larger than {limit} bytes")
    return bytes(body)


_SHARED: dict[tuple[int, Policy, int], tuple[AiohttpFetcher, int]] = {}


@contextlib.asynccontextmanager
async def shared_fetcher(policy: Policy) -> AsyncIterator[AiohttpFetcher]:
    """The event loop's fetcher for ``policy``, shared by every recording that runs in it
    (one session, one keep-alive pool); closed when the last user leaves."""
    key = (id(asyncio.get_running_loop()), policy, id(policy.resolve))
    fetcher, users = _SHARED.get(key) or (AiohttpFetcher(policy), 0)
    _SHARED[key] = (fetcher, users + 1)
    try:
        yield fetcher
    finally:
        fetcher, users = _SHARED[key]
        if users <= 1:
            del _SHARED[key]
            await fetcher.aclose()
        else:
            _SHARED[key] = (fetcher, users - 1)


# ---- httpx (a client the caller hands in) ----------------------------------------------


def http_client(policy: Policy) -> httpx.AsyncClient:
    """An httpx client under ``policy`` (every request and redirect hop is checked)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
        transport=policy.transport(),
    )


class HttpxFetcher:
    """GETs through an ``httpx.AsyncClient`` (its transport does any guarding)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, url: str, limit: int) -> bytes:
        return await fetch(self.client, url, limit)


async def fetch(client: httpx.AsyncClient, url: str, limit: int) -> bytes:
    """GET ``url`` whole through an httpx client (see :meth:`Fetcher.get`)."""
    try:
        async with client.stream("GET", url) as response:
            status = response.status_code
            if status >= 400:
                raise _http_error(url, status)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise _too_large(url, declared, limit)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise CaptureError(f"{url}: response larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException as exc:
        raise FetchError(url, f"timeout ({type(exc).__name__})", transient=True) from exc
    except httpx.TransportError as exc:
        raise FetchError(url, f"{type(exc).__name__}: {exc}", transient=True) from exc
    except httpx.HTTPError as exc:  # e.g. too many redirects, an invalid URL
        raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc


def as_fetcher(client: Fetcher | httpx.AsyncClient) -> Fetcher:
    return HttpxFetcher(client) if isinstance(client, httpx.AsyncClient) else client


async def fetch_retrying(
    client: Fetcher | httpx.AsyncClient,
    url: str,
    limit: int,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bytes:
    """``client.get`` with retries (backoff + jitter) on 5xx, timeouts and connection errors."""
    fetcher = as_fetcher(client)
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return await fetcher.get(url, limit)
        except FetchError as exc:
            if attempt == RETRY_ATTEMPTS or not exc.transient:
                raise
        backoff = RETRY_WAIT_S * 2 ** (attempt - 1) + random.uniform(0, RETRY_JITTER_S)
        await sleep(min(backoff, RETRY_MAX_WAIT_S))
    raise AssertionError("unreachable")


__all__ = [
    "AiohttpFetcher",
    "Fetcher",
    "HttpxFetcher",
    "as_fetcher",
    "fetch",
    "fetch_retrying",
    "http_client",
    "shared_fetcher",
]
