"""The HLS poller: follow a live playlist and keep every segment, with a timeline.

One :func:`record` call follows one broadcast. It reloads the media playlist about every
target duration, downloads each new segment once (by media sequence), writes it atomically
and appends a timeline row. It opens a new part on a sequence reset, a discontinuity or a
variant change, records a gap row when segments were missed, re-resolves the manifest on
403/410, retries 5xx and timeouts, and stops on ENDLIST, ``until``, a ``stop`` event or the
stall watchdog. Many calls share one event loop; disk writes run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from streamer.capture.clock import SYSTEM_CLOCK, Clock
from streamer.capture.fetch import shared_fetcher
from streamer.capture.poll_state import Progress, State, _Finish
from streamer.capture.poller import Poller
from streamer.capture.refresh import Located, locate
from streamer.capture.timeline import Timeline, TimelineWriter
from streamer.config import Settings
from streamer.errors import FetchError, ResolveError, StreamerError
from streamer.netguard import Policy, policy_for
from streamer.timeutil import iso, now
from streamer.youtube import BroadcastInfo, Resolver, ResolverLike

log = logging.getLogger(__name__)

# Segment rows are fdatasync-ed at most this often (files always before their rows): see
# TimelineWriter. Far shorter than any live window, so a power cut loses nothing to refetch.
SYNC_INTERVAL_S = 5.0
# Compatibility: the error the poller used to raise for HTTP statuses.
HttpError = FetchError
__all__ = ["HttpError", "Progress", "RecordResult", "Recorder", "State", "record"]


def _transient(exc: BaseException) -> bool:
    """A fetch failure a retry may cure: 5xx, 429, a transport error that says so."""
    if not isinstance(exc, FetchError):
        return False
    return exc.transient if exc.status is None else exc.status >= 500 or exc.status == 429


@dataclass
class RecordResult:
    state: State
    reason: str
    out_dir: Path
    segments: int = 0  # written by this call
    bytes: int = 0
    gaps: int = 0  # gap rows written by this call
    parts: int = 0  # parts opened by this call
    started_at: datetime = field(default_factory=now)
    ended_at: datetime = field(default_factory=now)
    info: BroadcastInfo | None = None
    resolves: int = 0  # yt-dlp resolves this call ran

    @property
    def ok(self) -> bool:
        return self.state in ("ended", "stopped")


class Recorder(Poller):
    """One whole recording: resolve, adopt, poll until a final state; use :func:`record`."""

    async def run(self) -> RecordResult:
        try:
            if self._http is not None:
                return await self._run()
            async with shared_fetcher(self.policy) as http:
                self._http = http
                return await self._run()
        finally:
            self.refresher.close()

    async def _start(self) -> RecordResult | None:
        """Resolve and adopt the broadcast; a result when there is nothing to record."""
        try:
            info = await self.refresher.resolve_now()
        except ResolveError as exc:
            # resuming, the broadcast was live a moment ago: let the caller watch again
            return self._result("stalled" if self.resumed else "failed", str(exc))
        self.info = info
        # An unknown status with a manifest (a generic URL) is tried: the playlist tells.
        if not info.is_live and not (info.live_status is None and info.manifest_url):
            if info.is_upcoming:
                when = f", expected {iso(info.release_time)}" if info.release_time else ""
                state: State = "stalled" if self.resumed else "failed"
                return self._result(state, f"the broadcast has not started yet{when}")
            if not (self.resumed and info.manifest_url):
                status = info.live_status or "unknown"
                return self._result("ended", f"the broadcast is not live ({status})")
        if info.manifest_url is None:
            return self._result("failed", f"{self.url}: no HLS manifest to record")
        try:
            await self._adopt(await self._locate(info))
        except StreamerError as exc:
            # resuming into an outage that outlasted the stall watchdog: watch again
            state = "stalled" if self.resumed and _transient(exc) else "failed"
            return self._result(state, str(exc) if self.url in str(exc) else f"{self.url}: {exc}")
        return None

    async def _locate(self, info: BroadcastInfo) -> Located:
        """The media playlist. A resumed recording rides out a source outage as its loop
        would (a restart during a drop is no failure), until the stall watchdog or a stop."""
        began = self.clock.monotonic()
        while True:
            try:
                return await locate(info, self.client, self.max_height)
            except FetchError as exc:
                waited = self.clock.monotonic() - began
                if not (self.resumed and _transient(exc)) or self.stop.is_set():
                    raise
                if waited >= self.stall_timeout_s:
                    raise
                self.failures += 1
                self.last_error = f"playlist: {exc}"
                await self.clock.sleep(self._backoff(), self.stop)

    async def _run(self) -> RecordResult:
        self._resume_state()
        early = await self._start()
        if early is not None:
            return early
        try:
            self.writer = TimelineWriter(
                self.out_dir, sync_interval_s=SYNC_INTERVAL_S, clock=self.clock.monotonic
            )
            await self._write(self._write_meta)
            await self._write(self.writer.start)
        except _Finish as fin:
            return self._finish(fin.state, fin.reason)
        except OSError as exc:
            return self._result("failed", f"cannot write in {self.out_dir}: {exc}")
        self.last_new_at = self.clock.monotonic()
        try:
            await self._loop()
        except _Finish as fin:
            return self._finish(fin.state, fin.reason)
        except asyncio.CancelledError:
            self._finish("stopped", "cancelled")
            raise
        except Exception as exc:  # never leave without an end row
            log.exception("%s: recorder failed", self.url)
            return self._finish("failed", f"unexpected error: {exc!r}")
        raise AssertionError("unreachable")

    def _write_meta(self) -> None:
        assert self.writer is not None
        existing = Timeline.load(self.out_dir).meta
        info = self.info
        videos = list(existing.get("video_ids") or [])
        if self.video_id and self.video_id not in videos:
            videos.append(self.video_id)
        meta = {
            "source_url": self.url,
            "created_at": existing.get("created_at") or iso(self.started_at),
            **{k: v for k, v in existing.items() if k not in ("source_url", "created_at")},
            "title": info.title if info else existing.get("title"),
            "video_id": self.video_id,
            "video_ids": videos,  # every video this recording followed, in order
            **self.meta,
            "updated_at": iso(self.clock.now()),
        }
        self.writer.write_meta(meta)

    def _finish(self, state: State, reason: str) -> RecordResult:
        if self.writer is not None:
            try:
                self.writer.end(state, reason)
            except OSError as exc:
                log.error("%s: cannot write the end row: %s", self.url, exc)
            with contextlib.suppress(OSError):  # ENOSPC again while flushing that row
                self.writer.close()
            self.writer = None
        log.info("%s: %s: %s", self.url, state, reason)
        self._progress(state)
        return self._result(state, reason)

    def _result(self, state: State, reason: str) -> RecordResult:
        return RecordResult(
            state=state,
            reason=reason,
            out_dir=self.out_dir,
            segments=self.segments,
            bytes=self.bytes,
            gaps=self.gaps,
            parts=self.parts_opened,
            started_at=self.started_at,
            ended_at=self.clock.now(),
            info=self.info,
            resolves=self.refresher.resolves,
        )


async def record(
    url: str,
    out_dir: Path,
    *,
    resolver: ResolverLike | None = None,
    until: datetime | None = None,
    duration_s: float | None = None,
    stall_timeout_s: float = 60.0,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    meta: dict[str, Any] | None = None,
    settings: Settings | None = None,
    max_height: int | None = None,
    backfill_s: float = 0.0,
    client: httpx.AsyncClient | None = None,
    clock: Clock = SYSTEM_CLOCK,
    policy: Policy | None = None,
) -> RecordResult:
    """Record the live broadcast at ``url`` into ``out_dir`` (resuming what is there).

    Stops at ENDLIST, at ``until`` (or ``duration_s`` from now), when ``stop`` is set, or
    when no segment came for ``stall_timeout_s`` and the broadcast is no longer live.
    ``backfill_s`` also keeps that many seconds of the playlist window behind the live edge
    on a fresh start. ``max_height`` defaults to the resolver's (or ``settings``'). Never
    raises for capture problems: the result says what happened.
    """
    if duration_s is not None:
        end = clock.now() + timedelta(seconds=duration_s)
        until = end if until is None else min(until, end)
    if resolver is None:
        resolver = Resolver(settings)
    if max_height is None:
        if settings is not None:
            max_height = settings.max_height
        else:
            max_height = resolver.max_height if isinstance(resolver, Resolver) else 1080
    recorder = Recorder(
        url,
        out_dir,
        resolver=resolver,
        max_height=max_height,
        until=until,
        stall_timeout_s=stall_timeout_s,
        stop=stop or asyncio.Event(),
        on_progress=on_progress,
        meta=meta,
        backfill_s=backfill_s,
        client=client,
        clock=clock,
        policy=policy or policy_for(settings),  # SSRF: strict unless opted in
    )
    return await recorder.run()
