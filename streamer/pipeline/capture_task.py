"""The capture task of a broadcast: watch until live, record, watch again for a restart until
its window ends. Many run at once, as asyncio tasks of the service's event loop.

Each :class:`Captures` belongs to one orchestrator; what it needs (settings, store, resolver,
where to send events, what to do when a capture ends) is passed in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamer.capture.backfill import record_with_backfill
from streamer.capture.clock import SYSTEM_CLOCK, Clock
from streamer.capture.hls import RecordResult
from streamer.capture.watcher import watch
from streamer.config import Settings
from streamer.errors import ResolveError, StreamerError
from streamer.pipeline import db_writes
from streamer.pipeline.after_end import ours, record_from_source
from streamer.pipeline.capture_progress import CaptureProgress
from streamer.pipeline.capture_videos import recorded_videos, video_of
from streamer.pipeline.capture_warnings import WatchWarnings
from streamer.pipeline.capture_writes import CaptureWrites
from streamer.pipeline.db_writes import DbWrites
from streamer.pipeline.marks import broadcast_until
from streamer.pipeline.states import BroadcastState
from streamer.pipeline.store import BroadcastView, Store
from streamer.timeutil import now
from streamer.youtube import BroadcastInfo, Resolver

log = logging.getLogger(__name__)
B = BroadcastState
Emit = Callable[[str, dict[str, Any]], None]


def recording_dir(settings: Settings, event_id: str, broadcast_id: str) -> Path:
    """Where a broadcast's recording (``capture/timeline.py`` format) lives."""
    return settings.recordings_dir / event_id / broadcast_id


class Captures:
    """The running capture tasks, by ``event.broadcast`` key."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        resolver: Resolver,
        *,
        emit: Emit,
        on_end: Callable[[str, str], None],
        owned: Callable[[], bool] = lambda: True,
        clock: Clock | None = None,
        writes: DbWrites | None = None,
    ) -> None:
        self.settings = settings
        # state DB writes run in order on a thread of their own: a DB locked by another
        # process must not stall the event loop, which fetches every recording's segments
        self.writes = writes or db_writes.shared()
        # False once a capture job's lease is lost: from then on this capture writes nothing
        # (no state, no recording row) and stops, because another worker owns the broadcast
        self.owned = owned
        self.store = store
        self.resolver = resolver
        self._emit = emit
        self._on_end = on_end  # a capture ended (not at shutdown): plan its sessions
        self.clock = clock  # injected: a late day is tested in simulated time (None: the
        # system clock, read through this module's ``now``)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, asyncio.Event] = {}
        self._closing = False
        self.db = CaptureWrites(store, self.writes, lambda: self.owned())
        self.progress = CaptureProgress(self.db, lambda: self.owned())
        self.warnings = WatchWarnings(lambda b, to, why: self.mark(b, to, why), emit)

    def start(self, event_id: str, broadcast_id: str, *, manual: bool = False) -> bool:
        """Start the watch → capture task of a broadcast unless it is already running (call
        from the event loop). ``manual`` (the media team's "record") ignores the planned
        window's end."""
        key = f"{event_id}.{broadcast_id}"
        task = self._tasks.get(key)
        if task is not None and not task.done():
            return False
        stop = self._stops[key] = asyncio.Event()
        self._tasks[key] = asyncio.get_running_loop().create_task(
            self.run(event_id, broadcast_id, stop, manual=manual)
        )
        return True

    async def stop(self, event_id: str, broadcast_id: str) -> bool:
        """Stop one capture cleanly; False when none was running."""
        key = f"{event_id}.{broadcast_id}"
        stop = self._stops.get(key)
        task = self._tasks.get(key)
        if stop is None or task is None or task.done():
            return False
        stop.set()
        await asyncio.wait([task], timeout=30)
        return True

    async def close(self) -> None:
        """Stop every capture; a broadcast that was live stays live, so a restart resumes."""
        self._closing = True
        for stop in self._stops.values():
            stop.set()
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=30)
        await self.writes.flush()

    async def flush(self) -> None:
        """Wait until the state DB writes asked for so far are done."""
        await self.writes.flush()

    async def run(
        self, event_id: str, broadcast_id: str, stop: asyncio.Event, *, manual: bool = False
    ) -> None:
        """Watch and capture one broadcast until it is over or ``stop`` is set: the body of
        an embedded capture task, and of a capture job on a worker (under its lease)."""
        key = f"{event_id}.{broadcast_id}"
        self._stops[key] = stop  # so that close() stops it too
        b = self.store.broadcast(event_id, broadcast_id)
        if not b.url:
            await self._mark(b, B.MISSING, "no URL in the schedule")
            return
        rec_dir = recording_dir(self.settings, event_id, broadcast_id)
        # not waited for: the first mark (watching) is queued in the same loop step, so a
        # session stage that waits for the queue (job_process) sees both; a resumed capture
        # records at once, even while the DB is locked
        self.db.save(event_id, broadcast_id, dir=str(rec_dir))
        late = timedelta(seconds=self.settings.late_limit_s)
        began = self._now()

        def limit() -> datetime:
            """Until when to follow: the predicted end of the day (a late day's marks move it
            while the capture runs) plus the late limit; "record" also counts from now."""
            end = self.until(b)
            return (max(end, began) if manual else end) + late

        try:
            await self._follow(b, rec_dir, limit, stop)
        except ResolveError as exc:
            hint = f" (hint: {exc.hint})" if exc.hint else ""
            await self._mark(b, B.FAILED, f"{exc.kind}: {exc}{hint}")
            self._emit(
                "broadcast.failed",
                {"event_id": b.event_id, "broadcast_id": b.id, "kind": exc.kind, "hint": exc.hint},
            )
        except StreamerError as exc:
            log.exception("capture of %s failed", key)
            await self._mark(b, B.FAILED, str(exc))
        finally:
            # what follows (planning the sessions) reads the states this capture wrote
            await self.writes.flush()
            if not self._closing and self.owned():
                self._on_end(event_id, broadcast_id)

    def until(self, b: BroadcastView) -> datetime:
        """The broadcast's end as predicted by the running delay (its scheduled end at least)."""
        try:
            return broadcast_until(self.store, b.event_id, b.id)
        except StreamerError as exc:  # the state DB hiccuped: the schedule still holds
            log.warning("predicted end of %s.%s unknown: %s", b.event_id, b.id, exc)
            return b.end

    def _watch_clock(self) -> dict[str, Any]:
        """The watch's clock and sleep: the injected clock's, else the watcher's own."""
        if self.clock is None:
            return {}
        return {"clock": self.clock.now, "sleep": self._sleep}

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else now()

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        await (self.clock or SYSTEM_CLOCK).sleep(seconds, stop)

    async def _follow(
        self,
        b: BroadcastView,
        rec_dir: Path,
        limit: Callable[[], datetime],
        stop: asyncio.Event,
    ) -> None:
        """Watch and record until the broadcast is over, stopped, or the service closes.

        Every watch, the first and each restart, runs to the predicted end plus the late
        limit, looked up afresh each time (a mark may have moved it)."""
        assert b.url is not None
        resume = b.state == B.LIVE  # a restart inside the window: record at once
        recorded: set[str] = set()  # video ids recorded in this window
        finished: set[str] = set()  # those whose playlist ended (ENDLIST): over for good
        did_record = False
        late = timedelta(seconds=self.settings.late_limit_s)
        while True:
            if not resume:
                why = "ended early; watching for a restart" if did_record else None
                await self._mark(b, B.WATCHING, why)
                watch_until = limit()
                watched = await watch(
                    self.resolver,
                    b.url,
                    not_after=watch_until,
                    poll_s=self.settings.watch_poll_s,
                    start=b.start,
                    window_start=b.start - timedelta(seconds=self.settings.watch_lead_s),
                    recorded=frozenset(recorded),
                    unavailable_until=b.start + late,
                    on_status=lambda status: self.warnings.on_watch(b, status),
                    stop=stop,
                    **self._watch_clock(),
                )
                if watched.state == "stopped":
                    await self._mark(b, B.ENDED if did_record else B.PLANNED, "stopped")
                    return
                if watched.state == "failed":
                    await self._mark(b, B.FAILED, watched.reason)
                    return
                if watched.state == "missed" and limit() > watch_until:
                    continue  # a mark moved the day's end while it watched: keep watching
                if watched.state == "live" and video_of(watched.info) in finished:
                    # /live still calls a stream whose playlist ended live (YouTube flips the
                    # page a while after the end): a poll's wait, not a re-record at once
                    # (each a resolve, a mark and a broadcast.live webhook)
                    await self._sleep(self.settings.watch_poll_s, stop)
                    if stop.is_set():
                        await self._mark(b, B.ENDED, "stopped")
                        return
                    continue
                if watched.state != "live":
                    info = watched.info
                    if not did_record and watched.state == "ended" and ours(info, limit()):
                        # it ended before any service life recorded it (or all of it): the
                        # source still holds it (post_live fragments, was_live archive)
                        assert info is not None
                        await self._record_after_end(b, rec_dir, info, stop)
                        return
                    if did_record and watched.state == "ended" and self._now() < limit():
                        self.warnings.watch_url_ended(b)
                        # the same stream is over; a new one may start before the limit
                        await self._sleep(self.settings.watch_poll_s, stop)
                        if stop.is_set():
                            await self._mark(b, B.ENDED, "stopped")
                            return
                        continue
                    if did_record:
                        await self._mark(b, B.ENDED, "no restart before the window ended")
                    else:
                        target = B.MISSING if watched.state == "missed" else B.ENDED
                        await self._mark(b, target, watched.reason)
                    return
            outcome = await self._record(b, rec_dir, limit, stop, resumed=resume)
            resumed, resume = resume, False
            did_record = True
            recorded.update(recorded_videos(rec_dir, outcome))
            if outcome.state == "ended" and video_of(outcome.info):
                finished.add(video_of(outcome.info))
            if self._closing or not self.owned():
                return  # stays live: the next start (or the lease's new owner) resumes
            if resumed and outcome.state == "ended" and ours(outcome.info, limit()):
                # resumed after the broadcast ended: what no service life recorded up to its
                # end (after the last segment, too) comes from the source
                assert outcome.info is not None
                await self._record_after_end(b, rec_dir, outcome.info, stop)
                return
            if outcome.state == "failed":
                if outcome.reason.startswith("disk full") and self._now() < limit():
                    # space may come back (someone frees it): try again, resuming the recording
                    poll = self.settings.watch_poll_s
                    await self._mark(b, B.LIVE, f"{outcome.reason}; trying again every {poll:g}s")
                    await self._sleep(poll, stop)
                    if not stop.is_set():
                        resume = True
                        continue
                    if not self._closing:  # closing: it stays live, the next start resumes
                        await self._mark(b, B.ENDED, "stopped")
                    return
                await self._mark(b, B.FAILED, outcome.reason)
                return
            await self._mark(b, B.ENDED, f"{outcome.state}: {outcome.reason}")
            self._emit(
                "broadcast.ended",
                {"event_id": b.event_id, "broadcast_id": b.id, "state": outcome.state},
            )
            if outcome.state == "stopped" or self._now() >= limit():
                return

    async def _record_after_end(
        self, b: BroadcastView, rec_dir: Path, info: BroadcastInfo, stop: asyncio.Event
    ) -> None:
        await record_from_source(
            b,
            rec_dir,
            info,
            stop,
            resolver=self.resolver,
            settings=self.settings,
            db=self.db,
            mark=self._mark,
            emit=self._emit,
            closing=lambda: self._closing,
        )

    async def _record(
        self,
        b: BroadcastView,
        rec_dir: Path,
        limit: Callable[[], datetime],
        stop: asyncio.Event,
        *,
        resumed: bool = False,
    ) -> RecordResult:
        assert b.url is not None
        key = f"{b.event_id}.{b.id}"
        # not waited for: segments are fetched while a locked DB holds the write back
        self.mark(b, B.LIVE, None)
        live: dict[str, Any] = {"event_id": b.event_id, "broadcast_id": b.id}
        if resumed:  # a restart picks up a capture that was live: not a new go-live
            live["resumed"] = True
        self._emit("broadcast.live", live)
        self.progress.begin(key)

        def progress(p: Any) -> None:
            self.progress.on_progress(b.event_id, b.id, p)

        while True:
            until = limit()
            # backfill is a stage of capture: gaps are healed from the source's DVR while live
            # and from post-live fragments or the archive after; a late start heals back to
            # the start
            moment = self._now()
            healed = await record_with_backfill(
                b.url,
                rec_dir,
                resolver=self.resolver,
                settings=self.settings,
                from_start=moment > b.start,
                until=until,
                stall_timeout_s=self.settings.stall_timeout_s,
                stop=stop,
                on_progress=progress,
                # keep what the playlist window still holds of the broadcast so far
                backfill_s=max(0.0, (moment - b.start).total_seconds()),
                meta={"event_id": b.event_id, "broadcast_id": b.id, "source_url": b.url},
                clock=self.clock or SYSTEM_CLOCK,
            )
            reached = healed.record.state == "stopped" and not stop.is_set()
            if not (reached and not self._closing and limit() > until):
                break
            # the end time passed, but a mark moved the day's end later while recording:
            # go on in the same recording (the playlist window bridges the restart)
            log.info("%s.%s: the day runs late; recording on until %s", b.event_id, b.id, limit())
        outcome = healed.record
        done = self.progress.figures(key)
        if not self.owned():
            return outcome  # the new owner records the recording's state from here
        await self.db.saved(
            b.event_id,
            b.id,
            state=outcome.state,
            reason=outcome.reason,
            segments=max(outcome.segments, done.get("segments", 0)),
            bytes=max(outcome.bytes, done.get("bytes", 0)),
            gaps=max(outcome.gaps, done.get("gaps", 0)),
        )
        return outcome

    async def _mark(self, b: BroadcastView, target: BroadcastState, reason: str | None) -> None:
        """Change the state and wait for it to be written (this task waits, not the loop):
        what runs next, here or in another stage, reads it."""
        await asyncio.wrap_future(self.mark(b, target, reason))

    def mark(self, b: BroadcastView, target: BroadcastState, reason: str | None) -> Future[None]:
        """Queue a state change (ordered after this broadcast's earlier writes); done when
        written or given up (logged)."""
        return self.db.mark(b, target, reason)
