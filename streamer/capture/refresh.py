"""Re-resolving a live broadcast in the background while the poller keeps polling.

A yt-dlp resolve takes seconds and sometimes minutes; run inline it would stop the polls, and
YouTube's ~30 s window would move on without us. :class:`Refresher` runs the resolve as a
task: the poller keeps using the current media URL until the
new one is ready. Re-resolves that did not help (the new URL fails again) back off
exponentially with a cap and jitter, and every resolve spends the host's budget, shared by
all recordings that use the same resolver.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from streamer.capture.clock import Clock
from streamer.capture.fetch import Fetcher, fetch_retrying
from streamer.capture.playlist import MediaPlaylist, choose_variant, parse
from streamer.errors import CaptureError, StreamerError
from streamer.youtube import (
    BroadcastInfo,
    ResolveBudget,
    ResolverLike,
    resolve_async,
    resolve_backoff,
)

log = logging.getLogger(__name__)

MAX_PLAYLIST_BYTES = 16 * 1024 * 1024  # a YouTube DVR playlist lists hours of segments
# Re-resolving (yt-dlp) costs seconds and load on the site: the first retry waits this much.
MIN_RESOLVE_INTERVAL_S = 3.0
MAX_RESOLVE_INTERVAL_S = 300.0


@dataclass(frozen=True)
class Located:
    """A resolved broadcast and the media playlist to poll."""

    info: BroadcastInfo
    media_url: str
    key: str  # format id (or URL) / variant: a change opens a new part


async def locate(
    info: BroadcastInfo, client: Fetcher | httpx.AsyncClient, max_height: int
) -> Located:
    """The media playlist of a resolved broadcast, choosing a variant from a master."""
    if info.manifest_url is None:
        raise CaptureError(f"{info.url}: no HLS manifest to record")
    url = info.manifest_url
    key = info.format_id or info.manifest_url
    text = (await fetch_retrying(client, url, MAX_PLAYLIST_BYTES)).decode("utf-8", "replace")
    parsed = parse(text, url)
    if isinstance(parsed, list):
        variant = choose_variant(parsed, max_height)
        url, key = variant.url, f"{key}/{variant.key}"
        text = (await fetch_retrying(client, url, MAX_PLAYLIST_BYTES)).decode("utf-8", "replace")
        if not isinstance(parse(text, url), MediaPlaylist):
            raise CaptureError(f"{url}: a master playlist where a media playlist should be")
    return Located(info, url, key)


class Refresher:
    """One recording's background re-resolves."""

    def __init__(self, resolver: ResolverLike, url: str, clock: Clock) -> None:
        self.resolver = resolver
        self.url = url
        self.clock = clock
        self.budget: ResolveBudget | None = getattr(resolver, "budget", None)
        self.task: asyncio.Task[BroadcastInfo] | None = None
        self.failures = 0  # re-resolves in a row that did not help
        self.resolves = 0
        self.not_before = 0.0  # monotonic time before which no re-resolve starts
        self.why: str | None = None
        self.status: str | None = None  # for the progress line and the status

    def request(self, why: str) -> bool:
        """Start a background re-resolve unless one runs or the backoff/budget says wait."""
        if self.task is not None:
            return False
        moment = self.clock.monotonic()
        if moment < self.not_before:
            wait = self.not_before - moment
            self.status = f"re-resolve backing off {wait:.0f}s ({why})"
            return False
        if self.budget is not None:
            wait = self.budget.take(self.url)
            if wait > 0:
                self.not_before = moment + wait
                self.status = f"re-resolve budget of the host spent; next in {wait:.0f}s ({why})"
                log.warning("%s: %s", self.url, self.status)
                return False
        self.resolves += 1
        self.why = why
        self.status = f"re-resolving ({why})"
        log.info("%s: re-resolving in the background (%s)", self.url, why)
        # the next one waits longer unless this one helps (see :meth:`helped`)
        delay = resolve_backoff(self.failures, MIN_RESOLVE_INTERVAL_S, MAX_RESOLVE_INTERVAL_S)
        self.not_before = moment + delay
        self.failures += 1
        self.task = asyncio.get_running_loop().create_task(self._run())
        return True

    async def _run(self) -> BroadcastInfo:
        # only the slow part (yt-dlp) runs beside the polls; the caller fetches the new
        # master playlist when it adopts the result
        return await resolve_async(self.resolver, self.url)

    def ready(self) -> BroadcastInfo | StreamerError | None:
        """The finished re-resolve (or its error), once; None while none finished."""
        task = self.task
        if task is None or not task.done():
            return None
        self.task = None
        if task.cancelled():
            return None
        exc = task.exception()
        if exc is None:
            self.status = None
            return task.result()
        if isinstance(exc, StreamerError):
            self.status = f"re-resolve failed: {exc}"
            return exc
        raise exc

    async def resolve_now(self) -> BroadcastInfo:
        """Resolve at once and wait for it (the first resolve, the stall check)."""
        self.resolves += 1
        return await resolve_async(self.resolver, self.url)

    def helped(self) -> None:
        """The media URL works again: the next trouble may re-resolve at once."""
        if self.failures:
            self.failures = 0
            self.not_before = 0.0
            self.status = None

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
