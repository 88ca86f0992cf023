"""The watcher: poll the resolver until a broadcast is live (or it is too late).

Watching starts before the expected start (the orchestrator begins ``watch_lead_s`` early),
so an early start is caught; a late start is waited for until ``not_after``.

"Not live yet" (upcoming, or a channel's ``/live`` with nothing on it) is the normal state
before and during the window, not a failure: it is polled at a steady cadence (``poll_s``,
``near_poll_s`` around the scheduled start) with jitter. Only real errors (network, a bot
check, a rate limit) back off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from streamer.errors import BroadcastUnavailable, NotLiveYet, ResolveError
from streamer.timeutil import iso, now
from streamer.youtube import BroadcastInfo, ResolverLike, resolve_async

log = logging.getLogger(__name__)

WatchState = Literal["live", "ended", "missed", "stopped", "failed"]
# Around the scheduled start, poll this much more often: from NEAR_BEFORE_S before it to
# NEAR_AFTER_S after it.
NEAR_BEFORE_S = 120.0
NEAR_AFTER_S = 600.0
# A channel URL whose current video can change: /live, /@handle/live, /channel/UC.../live.
_CHANNEL_LIVE = re.compile(r"youtube\.com/(@[^/]+|c/[^/]+|channel/[^/]+|user/[^/]+)/live/?$")

Sleep = Callable[[float, asyncio.Event], Awaitable[None]]


async def wait_or_stop(seconds: float, stop: asyncio.Event) -> None:
    """Sleep ``seconds``, waking early when ``stop`` is set (the real clock's sleep)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))


def is_channel_live_url(url: str) -> bool:
    """A channel's ``/live`` URL, which YouTube points at whatever video it chooses."""
    return _CHANNEL_LIVE.search(url.split("?", 1)[0]) is not None


@dataclass(frozen=True)
class WatchStatus:
    """What one poll found (for ``on_status``): the info, or the error of this attempt."""

    attempt: int
    info: BroadcastInfo | None
    error: str | None
    next_poll_s: float
    kind: str | None = None  # the error's kind (not_live_yet, bot_check, rate_limited, ...)
    hint: str | None = None


@dataclass(frozen=True)
class WatchResult:
    """``live``: record ``info`` now. ``ended``: it was live and is over. ``failed``: it is
    not a live stream at all. ``missed``: ``not_after`` passed without it going live.
    ``stopped``: asked to."""

    state: WatchState
    info: BroadcastInfo | None
    reason: str
    attempts: int

    @property
    def is_live(self) -> bool:
        return self.state == "live"


def next_delay(
    info: BroadcastInfo | None,
    failures: int,
    poll_s: float,
    max_poll_s: float,
    at: datetime,
    *,
    start: datetime | None = None,
    near_poll_s: float = 5.0,
) -> float:
    """Seconds to the next poll: steady while not live yet (faster near ``start``), doubled
    per real failure up to ``max_poll_s``; with jitter."""
    if failures:
        delay = min(poll_s * 2 ** min(failures, 6), max_poll_s)
    else:
        delay = poll_s
        start = start or (info.release_time if info is not None else None)
        if start is not None:
            ahead = (start - at).total_seconds()
            if -NEAR_AFTER_S <= ahead <= NEAR_BEFORE_S:
                delay = min(poll_s, near_poll_s)
            elif ahead > NEAR_BEFORE_S:
                # wake up in time for the fast polls before the start
                delay = min(poll_s, max(near_poll_s, ahead - NEAR_BEFORE_S))
    return float(delay * random.uniform(0.85, 1.15))


@dataclass
class _Watch:
    """One watch's settings and what it saw so far."""

    url: str
    not_after: datetime
    start: datetime | None
    window_start: datetime | None
    recorded: frozenset[str]
    unavailable_until: datetime | None
    last: BroadcastInfo | None = None
    last_error: str | None = None

    def ended_counts(self, info: BroadcastInfo) -> bool:
        """For a channel's /live, an ended video counts only if it is ours: one we recorded,
        or one that went live inside this broadcast's window. /live often shows the channel's
        previous stream until the next one starts."""
        if not is_channel_live_url(self.url):
            return True
        if info.video_id is not None and info.video_id in self.recorded:
            return True
        went_live = info.release_time
        return bool(went_live and self.window_start and went_live >= self.window_start)


async def watch(
    resolver: ResolverLike,
    url: str,
    *,
    not_after: datetime,
    poll_s: float = 30.0,
    max_poll_s: float = 300.0,
    near_poll_s: float = 5.0,
    start: datetime | None = None,
    window_start: datetime | None = None,
    recorded: frozenset[str] = frozenset(),
    unavailable_until: datetime | None = None,
    on_status: Callable[[WatchStatus], None] | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], datetime] = now,
    sleep: Sleep = wait_or_stop,
) -> WatchResult:
    """Poll ``resolver`` until ``url`` is live.

    Raises BroadcastUnavailable (private, removed), except before ``unavailable_until``
    (a video that is private until its start is checked again until then). Other resolve
    errors are retried with backoff until ``not_after``. ``start`` is the scheduled start;
    ``window_start`` and ``recorded`` (video ids) decide whether an ended video on a
    channel's /live is this broadcast's end or an older stream.
    """
    stop = stop or asyncio.Event()
    state = _Watch(url, not_after, start, window_start, recorded, unavailable_until)
    attempt = failures = 0
    while True:
        attempt += 1
        error: ResolveError | None = None
        info: BroadcastInfo | None = None
        try:
            info = await resolve_async(resolver, url)
        except BroadcastUnavailable as exc:
            if state.unavailable_until is None or clock() >= state.unavailable_until:
                raise
            error = exc  # e.g. private until the start: look again, at the steady cadence
        except NotLiveYet as exc:
            error = exc
        except ResolveError as exc:
            failures += 1
            error = exc
        if error is not None:
            state.last_error = str(error)
        if info is not None:
            failures = 0
            state.last = info
            result = _verdict(state, info, attempt)
            if result is not None:
                return result
        at = clock()
        remaining = (not_after - at).total_seconds()
        if remaining <= 0:
            why = "it did not go live before the limit"
            if state.last_error and state.last is None:
                why += f" (last error: {state.last_error})"
            return WatchResult("missed", state.last, why, attempt)
        delay = next_delay(
            state.last, failures, poll_s, max_poll_s, at, start=start, near_poll_s=near_poll_s
        )
        delay = min(delay, remaining)
        if on_status is not None:
            kind = error.kind if error is not None else None
            hint = error.hint if error is not None else None
            text = str(error) if error is not None else None
            on_status(WatchStatus(attempt, info, text, delay, kind, hint))
        log.debug("%s: not live yet (%s); next poll in %.0fs", url, error or "upcoming", delay)
        await sleep(delay, stop)
        if stop.is_set():
            return WatchResult("stopped", state.last, "stop requested", attempt)


def _verdict(state: _Watch, info: BroadcastInfo, attempt: int) -> WatchResult | None:
    """What a successful resolve means for the watch, or None to keep watching."""
    if info.is_live:
        return WatchResult("live", info, "the broadcast is live", attempt)
    if info.live_status == "not_live" and not info.is_generic:
        # (a plain HLS URL with ENDLIST is "not_live" too: that is a finished stream)
        why = "failed: not a live stream (a premiere or an upload, not a broadcast)"
        return WatchResult("failed", info, why, attempt)
    if info.has_ended:
        if state.ended_counts(info):
            why = f"the broadcast is not live ({info.live_status})"
            return WatchResult("ended", info, why, attempt)
        when = f", live at {iso(info.release_time)}" if info.release_time else ""
        state.last_error = (
            f"the channel's /live shows an earlier video ({info.video_id}, "
            f"{info.live_status}{when}); waiting for this broadcast's stream"
        )
        log.info("%s: %s", state.url, state.last_error)
    return None


def restart_limit(end: datetime, late_s: float) -> datetime:
    """Every watch of a broadcast, the first and each restart, runs to end + late limit."""
    return end + timedelta(seconds=late_s)
