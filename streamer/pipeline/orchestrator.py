"""The orchestrator: plans every broadcast's watch and every session's split and publish.

APScheduler (persistent SQLAlchemy job store in the state DB) fires the planned jobs; a
restart re-plans from the DB as well, so nothing depends on the job store alone. Captures
run as asyncio tasks in this process; split and publish go through the :class:`Runner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from streamer import metrics
from streamer.capture.hls import RecordResult, record
from streamer.capture.watcher import watch
from streamer.config import Settings
from streamer.errors import (
    IllegalTransition,
    ResolveError,
    ScheduleError,
    SplitError,
    StorageError,
    StreamerError,
)
from streamer.pipeline import stages
from streamer.pipeline.control import CutRequest, check_cut
from streamer.pipeline.runner import InProcessRunner, Runner
from streamer.pipeline.states import SESSION_DONE, SESSION_PROCESSABLE
from streamer.pipeline.store import BroadcastView, Diff, SessionView, Store
from streamer.pipeline.webhooks import Notifier
from streamer.schedule.load import load_dir
from streamer.schedule.model import Program, title_text
from streamer.timeutil import aware, iso, now
from streamer.youtube import Resolver

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # with backoff 5 s doubling to 10 min: about 10 minutes of retries
_CURRENT: Orchestrator | None = None


# Job functions are module-level so the persistent job store can name them.
async def job_watch(event_id: str, broadcast_id: str) -> None:
    if _CURRENT is not None:
        _CURRENT.start_capture(event_id, broadcast_id)


async def job_process(event_id: str, session_id: str) -> None:
    if _CURRENT is not None:
        await _CURRENT.process_session(event_id, session_id)


async def job_reprocess(event_id: str, session_id: str) -> None:
    if _CURRENT is not None:
        await _CURRENT.process_session(event_id, session_id, manual=True)


class Orchestrator:
    """Runs the pipeline for every event in ``settings.schedules``; implements ``Control``."""

    def __init__(
        self,
        settings: Settings,
        *,
        runner: Runner | None = None,
        resolver: Resolver | None = None,
        tick_s: float = 5.0,
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = stages.store_for(settings)
        self.runner = runner or InProcessRunner()
        self.resolver = resolver or Resolver(settings)
        self.notifier = Notifier.from_settings(settings)
        self.tick_s = tick_s
        self.programs: dict[str, Program] = {}
        self.schedule_errors: list[str] = []
        self._captures: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, asyncio.Event] = {}
        self._progress: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._closing = False
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

    # ---- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the schedules, re-plan from the DB, start the scheduler."""
        global _CURRENT
        _CURRENT = self
        self._loop = asyncio.get_running_loop()
        self._scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=self.settings.db_url)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            event_loop=self._loop,
        )
        self._scheduler.start()
        try:
            self._load_schedules()
        except ScheduleError:
            # keep serving the last good program from the DB; status shows the problems
            for event in self.store.events():
                self.programs.setdefault(event["id"], self.store.program(event["id"]))
        self._recover_interrupted()
        self._replan()
        self._tick_task = self._loop.create_task(self._ticker())

    async def shutdown(self) -> None:
        """Stop captures cleanly (state kept so a restart resumes), then the scheduler."""
        global _CURRENT
        self._closing = True
        for stop in self._stops.values():
            stop.set()
        if self._captures:
            await asyncio.wait(list(self._captures.values()), timeout=30)
        if self._tick_task:
            self._tick_task.cancel()
        if self._scheduler and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self.notifier.drain()
        if _CURRENT is self:
            _CURRENT = None

    def _load_schedules(self) -> Diff:
        diff = Diff()
        try:
            programs = load_dir(self.settings.schedules) if self.settings.schedules.exists() else []
        except ScheduleError as exc:
            self.schedule_errors = exc.problems
            log.error("schedules not (re)loaded:\n%s", "\n".join(exc.problems))
            raise
        self.schedule_errors = []
        for program in programs:
            d = self.store.sync_program(program)
            self.programs[program.event.id] = program
            diff.added += d.added
            diff.changed += d.changed
            diff.removed += d.removed
            diff.kept += d.kept
        return diff

    def _recover_interrupted(self) -> None:
        """Sessions caught mid-split or mid-publish by a crash are retried: their outputs
        are written atomically, so a rerun starts clean."""
        for s in self.store.sessions():
            if s.state in ("splitting", "publishing"):
                self._session_to(s, "failed", f"interrupted while {s.state} (restart)")

    def _replan(self) -> None:
        """Plan a watch per broadcast and a process per session, from the DB state."""
        moment = now()
        lead = timedelta(seconds=self.settings.watch_lead_s)
        late = timedelta(seconds=self.settings.late_limit_s)
        for b in self.store.broadcasts():
            if b.removed:
                continue
            key = f"{b.event_id}.{b.id}"
            job_id = f"watch:{key}"
            if b.state in ("ended", "failed", "missing"):
                self._remove_job(job_id)
                continue
            if moment > b.end + late:
                self._remove_job(job_id)
                target = "missing" if b.state == "planned" else "ended"
                self._set_broadcast(b, target, "its window was over when the service started")
                continue
            watch_at = b.start - lead
            if watch_at > moment:
                self._add_job(job_id, job_watch, watch_at, b.event_id, b.id)
            else:
                self._remove_job(job_id)
                self.start_capture(b.event_id, b.id)
        for s in self.store.sessions():
            self._plan_session(s)

    def _plan_session(self, s: SessionView) -> None:
        job_id = f"process:{s.key}"
        if s.state not in SESSION_PROCESSABLE:
            self._remove_job(job_id)
            return
        at = s.end + timedelta(seconds=self.settings.grace_s)
        if s.state == "failed":
            if s.attempts >= MAX_ATTEMPTS:
                self._remove_job(job_id)  # final; the media team can still publish by hand
                return
            at = max(at, s.updated_at + _backoff(s.attempts))
        self._add_job(job_id, job_process, max(at, now()), s.event_id, s.id)

    def _add_job(
        self,
        job_id: str,
        fn: Callable[..., Coroutine[Any, Any, None]],
        at: datetime,
        *args: str,
    ) -> None:
        assert self._scheduler is not None
        self._scheduler.add_job(
            fn, "date", run_date=at, args=list(args), id=job_id, replace_existing=True
        )

    def _remove_job(self, job_id: str) -> None:
        if self._scheduler and self._scheduler.get_job(job_id):
            self._scheduler.remove_job(job_id)

    async def _ticker(self) -> None:
        while not self._closing:
            try:
                self._tick()
            except Exception:  # the ticker must outlive any one bad row or DB hiccup
                log.exception("tick failed")
            await asyncio.sleep(self.tick_s)

    def _tick(self) -> None:
        """Move sessions along with the clock: waiting while watched, recording while live."""
        moment = now()
        bstate = {(b.event_id, b.id): b.state for b in self.store.broadcasts()}
        counts: dict[str, int] = {}
        for s in self.store.sessions():
            counts[s.state] = counts.get(s.state, 0) + 1
            b = bstate.get((s.event_id, s.broadcast_id))
            target = None
            if s.state in ("planned", "waiting") and b == "live" and s.start <= moment < s.end:
                target = "recording"
            elif s.state == "planned" and b in ("watching", "live") and moment < s.start:
                target = "waiting"
            if target:
                self.store.set_session_state(s.event_id, s.id, target)
        metrics.SESSIONS.clear()
        for state, n in counts.items():
            metrics.SESSIONS.labels(state=state).set(n)
        metrics.BROADCASTS.clear()
        for state in set(bstate.values()):
            metrics.BROADCASTS.labels(state=state).set(list(bstate.values()).count(state))

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        self.notifier.emit(kind, payload)
        for listener in self.listeners:
            listener(kind, payload)

    # ---- capture ------------------------------------------------------------------------

    def start_capture(self, event_id: str, broadcast_id: str, *, manual: bool = False) -> bool:
        """Start the watch → capture task of a broadcast unless it is already running.

        ``manual`` (the media team's "record") ignores the planned window's end."""
        key = f"{event_id}.{broadcast_id}"
        task = self._captures.get(key)
        if task is not None and not task.done():
            return False
        assert self._loop is not None
        self._stops[key] = asyncio.Event()
        self._captures[key] = self._loop.create_task(
            self._capture(event_id, broadcast_id, manual=manual)
        )
        return True

    async def _capture(self, event_id: str, broadcast_id: str, *, manual: bool) -> None:
        key = f"{event_id}.{broadcast_id}"
        b = self.store.broadcast(event_id, broadcast_id)
        stop = self._stops[key]
        if not b.url:
            self._set_broadcast(b, "missing", "no URL in the schedule")
            return
        rec_dir = stages.recording_dir(self.settings, event_id, broadcast_id)
        self.store.save_recording(event_id, broadcast_id, dir=str(rec_dir))
        late = timedelta(seconds=self.settings.late_limit_s)
        not_after = (max(b.end, now()) if manual else b.end) + late
        resume = b.state == "live"  # a restart inside the window: record at once
        recorded = False
        try:
            while True:
                if not resume:
                    self._set_broadcast(
                        b, "watching", "ended early; watching for a restart" if recorded else None
                    )
                    watched = await watch(
                        self.resolver,
                        b.url,
                        not_after=b.end if recorded else not_after,
                        poll_s=self.settings.watch_poll_s,
                        stop=stop,
                    )
                    if watched.state == "stopped":
                        self._set_broadcast(b, "ended" if recorded else "planned", "stopped")
                        return
                    if watched.state != "live":
                        if recorded and watched.state == "ended" and now() < b.end:
                            # the same stream is over; a new one may start before the end
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(stop.wait(), self.settings.watch_poll_s)
                            continue
                        if recorded:
                            self._set_broadcast(b, "ended", "no restart before the window ended")
                        else:
                            target = "missing" if watched.state == "missed" else "ended"
                            self._set_broadcast(b, target, watched.reason)
                        return
                resume = False
                outcome = await self._record(b, rec_dir, not_after, stop)
                recorded = True
                if self._closing:
                    return  # stays live: the next start resumes the capture
                if outcome.state == "failed":
                    self._set_broadcast(b, "failed", outcome.reason)
                    return
                self._set_broadcast(b, "ended", f"{outcome.state}: {outcome.reason}")
                self._emit(
                    "broadcast.ended",
                    {"event_id": event_id, "broadcast_id": broadcast_id, "state": outcome.state},
                )
                if outcome.state == "stopped" or now() >= b.end:
                    return
        except ResolveError as exc:
            self._set_broadcast(b, "failed", str(exc))
        except StreamerError as exc:
            log.exception("capture of %s failed", key)
            self._set_broadcast(b, "failed", str(exc))
        finally:
            if not self._closing:
                self._after_broadcast(event_id, broadcast_id)

    async def _record(
        self, b: BroadcastView, rec_dir: Path, until: datetime, stop: asyncio.Event
    ) -> RecordResult:
        assert b.url is not None
        key = f"{b.event_id}.{b.id}"
        self._set_broadcast(b, "live", None)
        self._emit("broadcast.live", {"event_id": b.event_id, "broadcast_id": b.id})
        self._progress[key] = {}

        def progress(p: Any) -> None:
            self._on_progress(b.event_id, b.id, p)

        outcome = await record(
            b.url,
            rec_dir,
            resolver=self.resolver,
            until=until,
            stall_timeout_s=self.settings.stall_timeout_s,
            stop=stop,
            on_progress=progress,
            # keep what the playlist window still holds of the broadcast so far
            backfill_s=max(0.0, (now() - b.start).total_seconds()),
            meta={"event_id": b.event_id, "broadcast_id": b.id, "source_url": b.url},
        )
        done = self._progress.get(key, {})
        self.store.save_recording(
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
        key = f"{event_id}.{broadcast_id}"
        before = self._progress.get(key, {})
        segments, nbytes, gaps = int(p.segments), int(p.bytes), int(p.gaps)
        metrics.CAPTURED_SEGMENTS.labels(broadcast=key).inc(
            max(0, segments - before.get("segments", 0))
        )
        metrics.CAPTURED_BYTES.labels(broadcast=key).inc(max(0, nbytes - before.get("bytes", 0)))
        metrics.GAPS.labels(broadcast=key).inc(max(0, gaps - before.get("gaps", 0)))
        self._progress[key] = {"segments": segments, "bytes": nbytes, "gaps": gaps}
        if segments - before.get("saved", 0) >= 10 or gaps != before.get("gaps", 0):
            self._progress[key]["saved"] = segments
            self.store.save_recording(
                event_id, broadcast_id, segments=segments, bytes=nbytes, gaps=gaps
            )
        else:
            self._progress[key]["saved"] = before.get("saved", 0)

    def _set_broadcast(self, b: BroadcastView, target: str, reason: str | None) -> None:
        try:
            self.store.set_broadcast_state(b.event_id, b.id, target, reason)
        except IllegalTransition as exc:
            log.warning("%s", exc)

    def _after_broadcast(self, event_id: str, broadcast_id: str) -> None:
        """Once a capture is over, sessions that already started need not wait their end."""
        moment = now()
        for s in self.store.sessions(event_id):
            if s.broadcast_id != broadcast_id or s.start > moment:
                continue
            if s.state in SESSION_PROCESSABLE and s.attempts < MAX_ATTEMPTS:
                self._add_job(f"process:{s.key}", job_process, moment, event_id, s.id)
            elif s.state == "incomplete":
                # a resumed capture may have filled what was missing: cut it again
                self._add_job(f"process:{s.key}", job_reprocess, moment, event_id, s.id)

    # ---- split and publish --------------------------------------------------------------

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def process_session(
        self, event_id: str, session_id: str, *, force: bool = False, manual: bool = False
    ) -> SessionView:
        """Split then publish one session; failures are stored and retried with backoff."""
        key = f"{event_id}.{session_id}"
        async with self._lock(key):
            s = self.store.session(event_id, session_id)
            if not s.scheduled.record:
                return self._session_to(s, "skipped", "record: false")
            if s.state in SESSION_DONE and not manual:
                return s
            b = self.store.broadcast(event_id, s.broadcast_id)
            live = b.state in ("watching", "live")
            if live and now() < s.end + timedelta(seconds=self.settings.grace_s) and not manual:
                self._plan_session(s)  # too early: the recording is still coming
                return s
            s = self._session_to(s, "splitting", None)
            try:
                vod = await self.runner.run(
                    stages.split_stage, self.settings, event_id, session_id, force
                )
                s = self._session_to(s, "publishing", None, coverage=vod.coverage)
                started = asyncio.get_running_loop().time()
                vod = await self.runner.run(
                    stages.publish_stage, self.settings, event_id, session_id
                )
                metrics.PUBLISH_SECONDS.observe(asyncio.get_running_loop().time() - started)
            except StreamerError as exc:
                # a missing recording stays missing once its broadcast is over
                return self._failed(s, exc, retry=live or not isinstance(exc, SplitError))
            final = "published" if vod.status == "complete" else "incomplete"
            reason = None
            if final == "incomplete":
                reason = f"recording covers {vod.coverage:.0%} of the session"
            s = self._session_to(
                s,
                final,
                reason,
                attempts=0,
                coverage=vod.coverage,
                vod_id=vod.id,
                vod_version=vod.version,
                published_at=now(),
            )
            self._emit(
                "session.published",
                {
                    "event_id": event_id,
                    "session_id": session_id,
                    "vod_id": vod.id,
                    "version": vod.version,
                    "status": vod.status,
                    "media_url": vod.media_url,
                },
            )
            return s

    def _program(self, event_id: str) -> Program:
        """The loaded program, or the DB's copy once its file is gone."""
        program = self.programs.get(event_id)
        return program if program is not None else self.store.program(event_id)

    def _session_to(
        self, s: SessionView, target: str, reason: str | None, **fields: Any
    ) -> SessionView:
        return self.store.set_session_state(s.event_id, s.id, target, reason, **fields)

    def _failed(self, s: SessionView, exc: StreamerError, *, retry: bool) -> SessionView:
        """Store the reason; plan a retry with backoff while one can help. A storage outage
        is retried for as long as it lasts (it delays publishing, it must not lose it)."""
        attempts = s.attempts + 1
        if isinstance(exc, StorageError):
            attempts = min(attempts, MAX_ATTEMPTS - 1)
        elif not retry:
            attempts = MAX_ATTEMPTS
        reason = str(exc)
        again = attempts < MAX_ATTEMPTS
        if again:
            delay = _backoff(attempts)
            reason = f"{reason} (attempt {s.attempts + 1}, retry in {delay.total_seconds():.0f}s)"
        s = self._session_to(s, "failed", reason, attempts=attempts)
        log.warning("session %s failed: %s", s.key, reason)
        self._emit("session.failed", {"event_id": s.event_id, "session_id": s.id, "reason": reason})
        if again:
            self._add_job(
                f"process:{s.key}", job_process, now() + _backoff(attempts), s.event_id, s.id
            )
        return s

    # ---- Control (called from API worker threads) ---------------------------------------

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 600) -> Any:
        assert self._loop is not None
        if _in_loop(self._loop):
            raise RuntimeError("Control methods are for other threads; await the coroutine")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def status(self) -> dict[str, Any]:
        return status_of(self.store, self.programs, self.schedule_errors)

    def sessions(self, event_id: str) -> list[dict[str, Any]]:
        program = self._program(event_id)
        return [session_json(s, program) for s in self.store.sessions(event_id)]

    def cut(self, session_id: str, request: CutRequest) -> dict[str, Any]:
        s = self.store.find_session(session_id)
        program = self._program(s.event_id)
        tz = program.event.tz
        start, end = self.store.correction(s.event_id, s.id) or (None, None)
        if request.start is not None:
            start = aware(request.start, tz)
        if request.end is not None:
            end = aware(request.end, tz)
        if request.start_offset_s is not None:
            start = s.start + timedelta(seconds=request.start_offset_s)
        if request.end_offset_s is not None:
            end = s.end + timedelta(seconds=request.end_offset_s)
        b = self.store.broadcast(s.event_id, s.broadcast_id)
        check_cut(  # 422 outside the broadcast's window, before anything is stored
            start or s.start,
            end or s.end,
            broadcast=(b.start, b.end),
            lead_s=self.settings.watch_lead_s,
            late_s=self.settings.late_limit_s,
            tz=tz,
        )
        self.store.add_correction(s.event_id, s.id, start, end)
        done = self._call(self.process_session(s.event_id, s.id, force=True, manual=True))
        return session_json(done, program)

    def publish(self, session_id: str) -> dict[str, Any]:
        s = self.store.find_session(session_id)
        done = self._call(self.process_session(s.event_id, s.id, manual=True))
        return session_json(done, self._program(s.event_id))

    def unpublish(self, session_id: str) -> dict[str, Any]:
        found = self.store.find_session(session_id)

        async def go() -> SessionView:
            async with self._lock(found.key):
                s = self.store.session(found.event_id, found.id)
                if s.state not in ("published", "incomplete"):
                    raise IllegalTransition(f"session {s.key} is {s.state}, not published")
                await self.runner.run(stages.unpublish_stage, self.settings, s.event_id, s.id)
                return self._session_to(s, "unpublished", "unpublished by the media team")

        try:
            done = self._call(go())
        except StorageError as exc:
            raise StorageError(f"unpublish of {found.key} failed: {exc}") from exc
        return session_json(done, self._program(found.event_id))

    def record(self, broadcast_id: str) -> dict[str, Any]:
        b = self.store.find_broadcast(broadcast_id)

        async def go() -> bool:
            return self.start_capture(b.event_id, b.id, manual=True)

        started = self._call(go())
        state = self.store.broadcast(b.event_id, b.id)
        return {**broadcast_json(state), "started": started}

    def stop(self, broadcast_id: str) -> dict[str, Any]:
        b = self.store.find_broadcast(broadcast_id)
        key = f"{b.event_id}.{b.id}"

        async def go() -> bool:
            stop = self._stops.get(key)
            task = self._captures.get(key)
            if stop is None or task is None or task.done():
                return False
            stop.set()
            await asyncio.wait([task], timeout=30)
            return True

        stopped = self._call(go())
        return {**broadcast_json(self.store.broadcast(b.event_id, b.id)), "stopped": stopped}

    def reload(self) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            try:
                diff = self._load_schedules()
            except ScheduleError as exc:
                return {**Diff().to_json(), "errors": exc.problems}
            self._replan()
            return {**diff.to_json(), "errors": []}

        result: dict[str, Any] = self._call(go())
        return result


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(600.0, 5.0 * 2 ** min(8, max(0, attempts - 1))))


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def broadcast_json(b: BroadcastView, tz: ZoneInfo | None = None) -> dict[str, Any]:
    return {
        "id": b.id,
        "event_id": b.event_id,
        "url": b.url,
        "start": iso(b.start, tz),
        "end": iso(b.end, tz),
        "state": b.state,
        "reason": b.reason,
        "live_at": iso(b.live_at) if b.live_at else None,
        "ended_at": iso(b.ended_at) if b.ended_at else None,
    }


def session_json(s: SessionView, program: Program | ZoneInfo | None) -> dict[str, Any]:
    tz = program.event.tz if isinstance(program, Program) else program
    sched = s.scheduled
    return {
        "id": s.id,
        "event_id": s.event_id,
        "broadcast_id": s.broadcast_id,
        "title": sched.title,
        "title_text": title_text(sched.title),
        "speakers": [sp.model_dump() for sp in sched.speakers],
        "track": sched.track,
        "language": sched.language,
        "record": sched.record,
        "start": iso(s.start, tz),
        "end": iso(s.end, tz),
        "day": s.start.astimezone(tz).date().isoformat() if tz else None,
        "state": s.state,
        "reason": s.reason,
        "attempts": s.attempts,
        "coverage": s.coverage,
        "vod_id": s.vod_id if s.state in ("published", "incomplete") else None,
        "vod_version": s.vod_version,
        "published_at": iso(s.published_at) if s.published_at else None,
    }


def status_of(
    store: Store, programs: dict[str, Program] | None = None, errors: list[str] | None = None
) -> dict[str, Any]:
    """Everything ``status --json`` and ``GET /api/v1/admin/status`` show."""
    zones: dict[str, Program | ZoneInfo] = {
        e["id"]: ZoneInfo(e["timezone"]) for e in store.events()
    }
    zones.update(programs or {})
    recs = {(r.event_id, r.broadcast_id): r for r in store.recordings()}
    broadcasts = []
    for b in store.broadcasts():
        zone = zones.get(b.event_id)
        row = broadcast_json(b, zone.event.tz if isinstance(zone, Program) else zone)
        rec = recs.get((b.event_id, b.id))
        row["recording"] = (
            {
                "dir": rec.dir,
                "segments": rec.segments,
                "bytes": rec.bytes,
                "gaps": rec.gaps,
                "state": rec.state,
                "reason": rec.reason,
                "updated_at": iso(rec.updated_at),
            }
            if rec
            else None
        )
        broadcasts.append(row)
    sessions = [session_json(s, zones.get(s.event_id)) for s in store.sessions()]
    counts: dict[str, int] = {}
    for s in sessions:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    return {
        "generated_at": iso(now()),
        "events": store.events(),
        "counts": counts,
        "broadcasts": broadcasts,
        "sessions": sessions,
        "schedule_errors": errors or [],
        "log": store.log(20),
    }


def recording_path(settings: Settings, event_id: str, broadcast_id: str) -> Path:
    return stages.recording_dir(settings, event_id, broadcast_id)
