"""The capture task of a broadcast: watch until live, record, watch again for a restart until
its window ends. Many run at once, as asyncio tasks of the service's event loop.

Each :class:`Captures` belongs to one orchestrator; what it needs (settings, store, resolver,
where to send events, what to do when a capture ends) is passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamer import metrics
from streamer.capture.backfill import record_after_end, record_with_backfill
from streamer.capture.clock import SYSTEM_CLOCK, Clock
from streamer.capture.heal import HealReport
from streamer.capture.hls import RecordResult
from streamer.capture.timeline import Timeline
from streamer.capture.watcher import WatchStatus, is_channel_live_url, watch
from streamer.config import Settings
from streamer.errors import IllegalTransition, ResolveError, StateError, StreamerError
from streamer.pipeline import db_writes
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
        self._progress: dict[str, dict[str, Any]] = {}
        self._closing = False
        self._warned: set[tuple[str, str, str]] = set()  # warnings sent once per broadcast

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
        self._save_recording(event_id, broadcast_id, dir=str(rec_dir))
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
                    on_status=lambda status: self._on_watch(b, status),
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
                if watched.state != "live":
                    info = watched.info
                    if not did_record and watched.state == "ended" and _ours(info, limit()):
                        # it ended before any service life recorded it (or all of it): the
                        # source still holds it (post_live fragments, was_live archive)
                        assert info is not None
                        await self._record_after_end(b, rec_dir, info, stop)
                        return
                    if did_record and watched.state == "ended" and self._now() < limit():
                        self._warn_watch_url(b)
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
            recorded.update(_recorded_videos(rec_dir, outcome))
            if self._closing or not self.owned():
                return  # stays live: the next start (or the lease's new owner) resumes
            if resumed and outcome.state == "ended" and _ours(outcome.info, limit()):
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
        """Record the broadcast from the source after its end, then mark it ended (final),
        so its sessions split and publish as usual."""
        assert b.url is not None
        status = info.live_status
        await self._mark(
            b, B.WATCHING, f"ended before all of it was recorded: recording it from {status}"
        )
        meta: dict[str, Any] = {"event_id": b.event_id, "broadcast_id": b.id}
        if info.video_id:
            meta["video_id"] = info.video_id
            meta["video_ids"] = [info.video_id]
        heal = asyncio.ensure_future(
            record_after_end(
                b.url, rec_dir, resolver=self.resolver, settings=self.settings, meta=meta
            )
        )
        halt = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({heal, halt}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halt.cancel()
        if not heal.done():  # stopped: what is written stays; the next watch resumes it
            heal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heal
            if not self._closing:
                await self._mark(b, B.PLANNED, "stopped")
            return
        if not self.owned():
            return
        try:
            report = heal.result()
        except StreamerError as exc:
            await self._saved(b.event_id, b.id, state="failed", reason=str(exc))
            await self._mark(b, B.ENDED, f"ended before all of it was recorded; {status}: {exc}")
            return
        timeline = Timeline.load(rec_dir)
        await self._saved(
            b.event_id,
            b.id,
            state="ended",
            reason=_after_end_reason(report),
            segments=len(timeline.segments),
            bytes=sum(s.bytes for s in timeline.segments),
            gaps=len(report.remaining),
        )
        await self._mark(b, B.ENDED, f"recorded after the end: {_after_end_reason(report)}")
        self._emit(
            "broadcast.ended",
            {"event_id": b.event_id, "broadcast_id": b.id, "state": "ended", "source": status},
        )

    def _on_watch(self, b: BroadcastView, status: WatchStatus) -> None:
        """A watch poll that found trouble: the real reason goes to the state and a webhook."""
        if status.kind is None or status.kind in ("not_live_yet", "resolve_error"):
            return
        reason = f"{status.kind}: {status.error}"
        if status.hint:
            reason += f" (hint: {status.hint})"
        self.mark(b, B.WATCHING, reason)
        key = (b.event_id, b.id, status.kind)
        if key not in self._warned:
            self._warned.add(key)
            self._emit(
                "broadcast.warning",
                {
                    "event_id": b.event_id,
                    "broadcast_id": b.id,
                    "kind": status.kind,
                    "reason": status.error,
                    "hint": status.hint,
                },
            )

    def _warn_watch_url(self, b: BroadcastView) -> None:
        """A watch URL cannot follow a stream that YouTube restarted as a new video."""
        assert b.url is not None
        if is_channel_live_url(b.url):
            return
        reason = (
            "the recorded video ended; if the stream restarted as a new video, this watch URL "
            "cannot follow it: use the channel's /live URL"
        )
        self.mark(b, B.WATCHING, reason)
        key = (b.event_id, b.id, "watch_url_ended")
        if key not in self._warned:
            self._warned.add(key)
            self._emit(
                "broadcast.warning",
                {
                    "event_id": b.event_id,
                    "broadcast_id": b.id,
                    "kind": "watch_url_ended",
                    "reason": reason,
                    "hint": "use the channel's /live URL",
                },
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
        self._progress[key] = {}

        def progress(p: Any) -> None:
            self._on_progress(b.event_id, b.id, p)

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
        done = self._progress.get(key, {})
        if not self.owned():
            return outcome  # the new owner records the recording's state from here
        await self._saved(
            b.event_id,
            b.id,
            state=outcome.state,
            reason=outcome.reason,
            segments=max(outcome.segments, done.get("segments", 0)),
            bytes=max(outcome.bytes, done.get("bytes", 0)),
            gaps=max(outcome.gaps, done.get("gaps", 0)),
        )
        return outcome

    def _on_progress(self, event_id: str, broadcast_id: str, p: Any) -> None:
        """A kept segment (or a status change): metrics now, the recording row through the
        writer (coalesced while the DB is busy)."""
        if not self.owned():
            return
        key = f"{event_id}.{broadcast_id}"
        before = self._progress.get(key, {})
        segments, nbytes, gaps = int(p.segments), int(p.bytes), int(p.gaps)
        metrics.CAPTURED_SEGMENTS.labels(broadcast=key).inc(
            max(0, segments - before.get("segments", 0))
        )
        metrics.CAPTURED_BYTES.labels(broadcast=key).inc(max(0, nbytes - before.get("bytes", 0)))
        metrics.GAPS.labels(broadcast=key).inc(max(0, gaps - before.get("gaps", 0)))
        now_ = {"segments": segments, "bytes": nbytes, "gaps": gaps}
        fields: dict[str, Any] = {}
        status = str(getattr(p, "status", "recording"))
        if status != before.get("status", "recording"):
            # e.g. "recording; re-resolve backing off 48s (playlist HTTP 403)": say so
            fields["reason"] = status
        saved = before.get("saved", 0)
        if segments - saved >= 10 or gaps != before.get("gaps", 0):
            saved = segments
            fields.update(now_)
        if fields:
            self.writes.progress(key, self._progress_write(event_id, broadcast_id), **fields)
        self._progress[key] = {**now_, "status": status, "saved": saved}

    def _progress_write(self, event_id: str, broadcast_id: str) -> Callable[[dict[str, Any]], None]:
        def write(fields: dict[str, Any]) -> None:
            self._save_recording_now(event_id, broadcast_id, fields)

        return write

    async def _mark(self, b: BroadcastView, target: BroadcastState, reason: str | None) -> None:
        """Change the state and wait for it to be written (this task waits, not the loop):
        what runs next, here or in another stage, reads it."""
        await asyncio.wrap_future(self.mark(b, target, reason))

    async def _saved(self, event_id: str, broadcast_id: str, **fields: Any) -> None:
        await asyncio.wrap_future(self._save_recording(event_id, broadcast_id, **fields))

    def mark(self, b: BroadcastView, target: BroadcastState, reason: str | None) -> Future[None]:
        """Queue a state change (ordered after this broadcast's earlier writes); done when
        written or given up (logged)."""
        if not self.owned():
            log.warning("%s.%s: lease lost, %s not recorded", b.event_id, b.id, target)
            return _done()
        event_id, broadcast_id = b.event_id, b.id

        def write() -> None:
            if not self.owned():  # lost while the write waited (a long DB lock)
                return
            try:
                self.store.set_broadcast_state(event_id, broadcast_id, target, reason)
            except IllegalTransition as exc:
                log.warning("%s", exc)
            except StateError as exc:  # e.g. the data disk is full under the DB: record on
                log.error(
                    "%s.%s: state %s (%s) not saved: %s",
                    event_id,
                    broadcast_id,
                    target,
                    reason,
                    exc,
                )

        return self.writes.submit(write, key=f"{event_id}.{broadcast_id}")

    def _save_recording(self, event_id: str, broadcast_id: str, **fields: Any) -> Future[None]:
        """Bookkeeping only (the timeline is the truth): a DB that cannot be written (locked
        too long, its disk full) must not stop a capture. Nothing once the lease is lost."""
        if not self.owned():
            return _done()
        return self.writes.submit(
            lambda: self._save_recording_now(event_id, broadcast_id, fields),
            key=f"{event_id}.{broadcast_id}",
        )

    def _save_recording_now(self, event_id: str, broadcast_id: str, fields: dict[str, Any]) -> None:
        if not self.owned():  # lost while the write waited (a long DB lock)
            return
        try:
            self.store.save_recording(event_id, broadcast_id, **fields)
        except StateError as exc:
            log.error("%s.%s: recording row not saved: %s", event_id, broadcast_id, exc)


def _done() -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done


def _ours(info: BroadcastInfo | None, until: datetime) -> bool:
    """An ended video to record from the source afterwards: a YouTube broadcast that went
    live before this window closed (the watcher already refused an older video on a
    channel's /live)."""
    if info is None or info.live_status not in ("post_live", "was_live"):
        return False
    return info.release_time is None or info.release_time <= until


def _after_end_reason(report: HealReport) -> str:
    """What an after-the-end recording got, and why anything is missing."""
    got = ", ".join(f"{src} {s:.0f}s" for src, s in report.by_source.items() if s > 0)
    text = f"from {report.status}: {got or 'nothing'}"
    reasons = sorted({reason for _, _, reason in report.remaining})
    if reasons:
        text += "; missing: " + "; ".join(reasons)
    return text


def _recorded_videos(rec_dir: Path, outcome: RecordResult) -> set[str]:
    """The video ids a recording followed (an ended one of these on /live is our end)."""
    ids = {str(v) for v in Timeline.load(rec_dir).meta.get("video_ids") or []}
    if outcome.info is not None and outcome.info.video_id:
        ids.add(outcome.info.video_id)
    return ids
