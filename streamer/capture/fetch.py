"""The poller's one way onto the network: a client factory and a fetch function.

Every HTTP request of the capture (master and media playlists, segments) goes through
:func:`fetch`, so a guard (e.g. one that refuses private addresses) hooks in at one place,
and httpx's errors are translated here, once, into :class:`~streamer.errors.FetchError`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import httpx

from streamer import __version__
from streamer.errors import CaptureError, FetchError
from streamer.netguard import Policy

# GETs with retries: this many attempts in all; between them 0.25 s, 0.5 s, 1 s (at most
# 2 s), each plus up to 0.25 s of jitter.
RETRY_ATTEMPTS = 4
RETRY_WAIT_S = 0.25
RETRY_MAX_WAIT_S = 2.0
RETRY_JITTER_S = 0.25
_TRANSIENT_STATUS = (408, 425, 429)


def http_client(policy: Policy) -> httpx.AsyncClient:
    """The poller's HTTP client; ``policy`` checks every request and redirect hop (SSRF)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(15.0, connect=5.0),
        follow_redirects=True,
        headers={"User-Agent": f"streamer/{__version__}"},
        transport=policy.transport(),
    )


async def fetch(client: httpx.AsyncClient, url: str, limit: int) -> bytes:
    """GET ``url`` whole, at most ``limit`` bytes. Raises FetchError (HTTP status or
    transport trouble) or CaptureError (too large)."""
    try:
        async with client.stream("GET", url) as response:
            status = response.status_code
            if status >= 400:
                transient = status >= 500 or status in _TRANSIENT_STATUS
                raise FetchError(url, f"HTTP {status}", status=status, transient=transient)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise CaptureError(f"{url}: response of {declared} bytes is too large")
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


async def fetch_retrying(
    client: httpx.AsyncClient,
    url: str,
    limit: int,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bytes:
    """:func:`fetch` with retries (backoff + jitter) on 5xx, timeouts and connection errors."""
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return await fetch(client, url, limit)
        except FetchError as exc:
            if attempt == RETRY_ATTEMPTS or not exc.transient:
                raise
        backoff = RETRY_WAIT_S * 2 ** (attempt - 1) + random.uniform(0, RETRY_JITTER_S)
        await sleep(min(backoff, RETRY_MAX_WAIT_S))
    raise AssertionError("unreachable")
