"""The watcher: poll the resolver until a broadcast is live (or it is too late).

Watching starts before the expected start (the orchestrator begins ``watch_lead_s`` early),
so an early start is caught; a late start is waited for until ``not_after``. Polls back off
with jitter, and sleep longer while a scheduled start is still far away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from streamer.errors import BroadcastUnavailable, ResolveError
from streamer.timeutil import now
from streamer.youtube import BroadcastInfo, ResolverLike, resolve_async

log = logging.getLogger(__name__)

WatchState = Literal["live", "ended", "missed", "stopped"]


@dataclass(frozen=True)
class WatchStatus:
    """What one poll found (for ``on_status``): the info, or the error of this attempt."""

    attempt: int
    info: BroadcastInfo | None
    error: str | None
    next_poll_s: float


@dataclass(frozen=True)
class WatchResult:
    """``live``: record ``info`` now. ``ended``: it was live and is over (or never a live
    stream). ``missed``: ``not_after`` passed without it going live. ``stopped``: asked to."""

    state: WatchState
    info: BroadcastInfo | None
    reason: str
    attempts: int

    @property
    def is_live(self) -> bool:
        return self.state == "live"


def next_delay(
    info: BroadcastInfo | None, failures: int, poll_s: float, max_poll_s: float, at: datetime
) -> float:
    """Seconds to the next poll: ``poll_s``, doubled per failure, longer while far from start."""
    delay = poll_s * (2 ** min(failures, 6)) if failures else poll_s
    if info is not None and info.release_time is not None:
        ahead = (info.release_time - at).total_seconds()
        if ahead > 2 * poll_s:
            # Far from the scheduled start: wake up one poll interval before it.
            delay = max(delay, ahead - poll_s)
    delay = min(delay, max_poll_s)
    return delay * random.uniform(0.85, 1.15)


async def watch(
    resolver: ResolverLike,
    url: str,
    *,
    not_after: datetime,
    poll_s: float = 30.0,
    max_poll_s: float = 300.0,
    on_status: Callable[[WatchStatus], None] | None = None,
    stop: asyncio.Event | None = None,
) -> WatchResult:
    """Poll ``resolver`` until ``url`` is live. Raises BroadcastUnavailable (private, removed).

    Other resolve errors (network, "not live yet", a playlist not there yet) are retried
    with backoff until ``not_after``.
    """
    stop = stop or asyncio.Event()
    attempt = failures = 0
    last: BroadcastInfo | None = None
    last_error: str | None = None
    while True:
        attempt += 1
        error: str | None = None
        info: BroadcastInfo | None = None
        try:
            found = await resolve_async(resolver, url)
        except BroadcastUnavailable:
            raise
        except ResolveError as exc:
            failures += 1
            error = last_error = str(exc)
        else:
            failures = 0
            last = info = found
            if info.is_live:
                return WatchResult("live", info, "the broadcast is live", attempt)
            if info.has_ended:
                why = f"the broadcast is not live ({info.live_status})"
                return WatchResult("ended", info, why, attempt)
        at = now()
        remaining = (not_after - at).total_seconds()
        if remaining <= 0:
            why = "it did not go live before the limit"
            if last_error and last is None:
                why += f" (last error: {last_error})"
            return WatchResult("missed", last, why, attempt)
        delay = min(next_delay(last, failures, poll_s, max_poll_s, at), remaining)
        if on_status is not None:
            on_status(WatchStatus(attempt, info, error, delay))
        log.debug("%s: not live yet (%s); next poll in %.0fs", url, error or "upcoming", delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        if stop.is_set():
            return WatchResult("stopped", last, "stop requested", attempt)
