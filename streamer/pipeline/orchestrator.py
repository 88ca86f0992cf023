"""The orchestrator: plans every broadcast's watch and every session's split and publish, and
answers the media team's controls.

APScheduler (persistent SQLAlchemy job store in the state DB, see
:mod:`~streamer.pipeline.jobs`) fires the planned jobs; a restart re-plans from the DB as
well, so nothing depends on the job store alone. The work itself lives elsewhere: captures in
:mod:`~streamer.pipeline.capture_task`, session processing in
:mod:`~streamer.pipeline.processing` (stages run by the :class:`Runner`), when sessions move
and run in :mod:`~streamer.pipeline.session_plan`, cut corrections in
:mod:`~streamer.pipeline.desk`, the JSON views in :mod:`~streamer.pipeline.status`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from streamer.config import Settings
from streamer.detect import Edge
from streamer.errors import ScheduleError, StorageError, StreamerError
from streamer.pipeline import stages
from streamer.pipeline.capture_task import Captures
from streamer.pipeline.control import AcceptRequest, CutRequest, MarkRequest
from streamer.pipeline.desk import Desk

# Job stores written before the job functions moved to ``jobs`` name them through this
# module: these imports keep those stored jobs loadable.
from streamer.pipeline.jobs import (
    URL_REFRESH_JOB,
    JobFn,
    job_process,
    job_refresh_urls,
    job_reprocess,
    job_watch,
    make_scheduler,
)
from streamer.pipeline.marks import MarkStore, MarkWatch, broadcast_until
from streamer.pipeline.processing import Hooks, Processor
from streamer.pipeline.reheal import HealWatch
from streamer.pipeline.review import make_preview, review_of
from streamer.pipeline.runner import InProcessRunner, Runner
from streamer.pipeline.session_plan import clock_moves, count_states, cut_after_capture, process_at
from streamer.pipeline.startup import read_schedules, recover_interrupted, sync_programs
from streamer.pipeline.states import BROADCAST_OVER, BroadcastState, SessionState
from streamer.pipeline.status import add_running_delay, broadcast_json, session_json, status_of
from streamer.pipeline.store import Diff, SessionView
from streamer.pipeline.sweep import sweep_storage
from streamer.pipeline.webhooks import Notifier
from streamer.schedule.model import Program
from streamer.timeutil import aware, now
from streamer.youtube import Resolver

log = logging.getLogger(__name__)
B, S = BroadcastState, SessionState


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
        self.notifier = Notifier.from_settings(settings)
        self.tick_s = tick_s
        self.programs: dict[str, Program] = {}
        self.schedule_errors: list[str] = []
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.captures = Captures(
            settings,
            self.store,
            resolver or Resolver(settings),
            emit=self._emit,
            on_end=self._after_broadcast,
        )
        hooks = Hooks(
            plan=self._plan_session,
            retry=self._plan_retry,
            settled=self._deliver,
            later=self._plan_at,
        )
        self.processor = Processor(settings, self.store, self.runner, hooks)
        self.heals = HealWatch()
        self.new_marks = MarkWatch(self.store)  # marks from the CLI (another process)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._closing = False

    # ---- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the schedules, re-plan from the DB, start the scheduler."""
        self._loop = asyncio.get_running_loop()
        self._scheduler = make_scheduler(self, self.settings.db_url, self._loop)
        self._scheduler.start()
        try:
            self._load_schedules()
        except ScheduleError:
            # keep serving the last good program from the DB; status shows the problems
            for event in self.store.events():
                self.programs.setdefault(event["id"], self.store.program(event["id"]))
        self._recover_interrupted()
        self._replan()
        self._plan_url_refresh()
        self._tick_task = self._loop.create_task(self._ticker())
        # the store may be slow or down: its sweep must hold up neither the start nor the
        # shutdown (a daemon thread, not the loop's executor, which exit waits for)
        threading.Thread(target=self._sweep_storage, name="sweep", daemon=True).start()

    async def shutdown(self) -> None:
        """Stop captures cleanly (state kept so a restart resumes), then the scheduler."""
        self._closing = True
        await self.captures.close()
        if self._tick_task:
            self._tick_task.cancel()
        if self._scheduler and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._deliver()
        await self.notifier.drain()

    def _sweep_storage(self) -> None:
        try:
            sweep_storage(self.settings, now())
        except StreamerError as exc:
            log.warning("stale uploads not swept (next start tries again): %s", exc)

    def _load_schedules(self) -> Diff:
        try:
            programs = read_schedules(self.settings)
        except ScheduleError as exc:
            self.schedule_errors = exc.problems
            raise
        self.schedule_errors = []
        return sync_programs(self.store, programs, self.programs)

    def _recover_interrupted(self) -> None:
        """Sessions caught mid-split or mid-publish by a crash are retried at once."""
        recover_interrupted(self.settings, self.store, self.runner)

    # ---- planning -----------------------------------------------------------------------

    def _replan(self) -> None:
        """Plan a watch per broadcast and a process per session, from the DB state."""
        moment = now()
        lead = timedelta(seconds=self.settings.watch_lead_s)
        late = timedelta(seconds=self.settings.late_limit_s)
        for b in self.store.broadcasts():
            if b.removed:
                continue
            job_id = f"watch:{b.event_id}.{b.id}"
            if b.state in BROADCAST_OVER:
                self._remove_job(job_id)
                continue
            if moment > broadcast_until(self.store, b.event_id, b.id) + late:  # a late day
                self._remove_job(job_id)
                target = B.MISSING if b.state == B.PLANNED else B.ENDED
                reason = "its window was over when the service started"
                self.captures.mark(b, target, reason)
                continue
            watch_at = b.start - lead
            if watch_at > moment:
                self._add_job(job_id, job_watch, watch_at, b.event_id, b.id)
            else:
                self._remove_job(job_id)
                self.captures.start(b.event_id, b.id)
        for s in self.store.sessions():
            self._plan_session(s)

    def _plan_url_refresh(self) -> None:
        """Presigned URLs in the catalog expire: renew them on a timer, first right away (the
        service may have been down for longer than their lifetime)."""
        assert self._scheduler is not None
        try:
            every = stages.url_refresh_interval_s(self.settings)
        except StreamerError as exc:  # a bad storage setting: publish reports it per session
            log.warning("presigned URL refresh not planned: %s", exc)
            return
        if every is None:
            self._remove_job(URL_REFRESH_JOB)
            return
        self._scheduler.add_job(
            job_refresh_urls,
            "interval",
            seconds=every,
            id=URL_REFRESH_JOB,
            replace_existing=True,
            next_run_time=now(),
        )

    def _plan_session(self, s: SessionView) -> None:
        job_id = f"process:{s.key}"
        at = process_at(self.settings, self.store, s)
        if at is None:
            self._remove_job(job_id)
            return
        self._add_job(job_id, job_process, at, s.event_id, s.id)

    def _plan_retry(self, s: SessionView) -> None:
        """After a failure: the retry at the time the policy stored, if any."""
        if s.next_try_at is not None:
            self._add_job(f"process:{s.key}", job_process, s.next_try_at, s.event_id, s.id)

    def _plan_at(self, s: SessionView, at: datetime) -> None:
        self._add_job(f"process:{s.key}", job_process, at, s.event_id, s.id)

    def _after_broadcast(self, event_id: str, broadcast_id: str) -> None:
        """Once a capture is over, sessions that already started need not wait their end."""
        moment = now()
        for s, again in cut_after_capture(self.store, event_id, broadcast_id, moment):
            fn = job_reprocess if again else job_process
            self._add_job(f"process:{s.key}", fn, moment, event_id, s.id)

    def _add_job(self, job_id: str, fn: JobFn, at: datetime, *args: str) -> None:
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
                self._deliver()
            except Exception:  # the ticker must outlive any one bad row or DB hiccup
                log.exception("tick failed")
            await asyncio.sleep(self.tick_s)

    def _tick(self) -> None:
        """Move sessions along with the clock: waiting while watched, recording while live."""
        moment = now()
        bstate = {(b.event_id, b.id): b.state for b in self.store.broadcasts()}
        sessions = self.store.sessions()
        for s, target in clock_moves(sessions, bstate, moment):
            self.store.set_session_state(s.event_id, s.id, target)
        for s in self.heals.due(self.store, sessions):  # a heal filled them since: re-cut
            self._add_job(f"process:{s.key}", job_reprocess, moment, s.event_id, s.id)
        for m in self.new_marks.new():  # e.g. `streamer mark`: its delay moves the plan now
            marked = {(s.event_id, s.id): s for s in sessions}.get((m.event_id, m.session_id))
            if marked is not None:  # a session removed since has nothing to plan
                self._plan_from(marked)
        count_states(sessions, bstate)

    # ---- events -------------------------------------------------------------------------

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        self.notifier.emit(kind, payload)
        for listener in self.listeners:
            listener(kind, payload)

    def _deliver(self) -> None:
        """Send the events the stages queued in the store (call from the event loop)."""
        for kind, payload in self.store.take_posts():
            self._emit(kind, payload)

    # ---- Control (called from API worker threads) ---------------------------------------

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 600) -> Any:
        assert self._loop is not None
        if _in_loop(self._loop):
            coro.close()
            raise RuntimeError("Control methods are for other threads; await the coroutine")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _program(self, event_id: str) -> Program:
        """The loaded program, or the DB's copy once its file is gone."""
        program = self.programs.get(event_id)
        return program if program is not None else self.store.program(event_id)

    def status(self) -> dict[str, Any]:
        return status_of(
            self.store, self.programs, self.schedule_errors, vods_dir=self.settings.vods_dir
        )

    def sessions(self, event_id: str) -> list[dict[str, Any]]:
        program = self._program(event_id)
        rows = [session_json(s, program) for s in self.store.sessions(event_id)]
        add_running_delay(self.store, rows, {event_id: program})  # the program shows it
        return rows

    @property
    def _desk(self) -> Desk:
        # built per call: a subclass may swap the processor or runner after __init__
        return Desk(self.settings, self.store, self.processor, self.runner, self._deliver)

    def cut(self, session_id: str, request: CutRequest, source: str = "api") -> dict[str, Any]:
        s = self.store.find_session(session_id)
        program = self._program(s.event_id)
        start, _ = self._desk.correct(s, request, program.event.tz, source)
        if start is not None:
            self._replan_after(s)
        done = self._call(self.processor.process(s.event_id, s.id, force=True, manual=True))
        return session_json(done, program)

    def mark(self, session_id: str, request: MarkRequest, source: str) -> dict[str, Any]:
        s = self.store.find_session(session_id)
        at = aware(request.at, self._program(s.event_id).event.tz) if request.at else None
        made = MarkStore(self.store).add(
            s.key, Edge(request.edge), at, by=request.by or "admin", source=source
        )
        if request.edge == "start":
            self._replan_after(s)
        return made.to_json()

    def _replan_after(self, s: SessionView) -> None:
        """A known start moved the running delay: plan the later sessions' processing again
        (the captures look their limit up afresh on their own)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._plan_from, s)

    def _plan_from(self, s: SessionView) -> None:
        """Plan ``s`` and the sessions after it again (call from the event loop)."""
        for v in self.store.sessions(s.event_id):
            if v.start >= s.start:
                self._plan_session(v)

    def suggest(self, session_id: str) -> dict[str, Any]:
        s = self.store.find_session(session_id)
        return self._desk.suggest(s, self._program(s.event_id))

    def accept(self, session_id: str, request: AcceptRequest, source: str) -> dict[str, Any]:
        s = self.store.find_session(session_id)
        desk = self._desk
        window = desk.accepted_window(s, request, self._program(s.event_id))
        if self._call(desk.decide(s, request, window, source)):
            self._call(self.processor.process(s.event_id, s.id, force=True, manual=True))
        self._replan_after(s)
        return session_json(self.store.session(s.event_id, s.id), self._program(s.event_id))

    def review(self, session_id: str) -> dict[str, Any]:
        s = self.store.find_session(session_id)
        return review_of(self.store, self._program(s.event_id), session_id)

    def preview(self, session_id: str, at: datetime) -> dict[str, Any]:
        return make_preview(self.store, session_id, at, self.preview_dir()).to_json()

    def preview_dir(self) -> Path:
        return self.settings.data_dir / "desk-previews"

    def publish(self, session_id: str) -> dict[str, Any]:
        s = self.store.find_session(session_id)
        done = self._call(self.processor.process(s.event_id, s.id, manual=True))
        return session_json(done, self._program(s.event_id))

    def unpublish(self, session_id: str) -> dict[str, Any]:
        found = self.store.find_session(session_id)
        try:
            done = self._call(self.processor.unpublish(found.event_id, found.id))
        except StorageError as exc:
            raise StorageError(f"unpublish of {found.key} failed: {exc}") from exc
        return session_json(done, self._program(found.event_id))

    def record(self, broadcast_id: str) -> dict[str, Any]:
        b = self.store.find_broadcast(broadcast_id)

        async def go() -> bool:
            return self.captures.start(b.event_id, b.id, manual=True)

        started = self._call(go())
        state = self.store.broadcast(b.event_id, b.id)
        return {**broadcast_json(state), "started": started}

    def stop(self, broadcast_id: str) -> dict[str, Any]:
        b = self.store.find_broadcast(broadcast_id)
        stopped = self._call(self.captures.stop(b.event_id, b.id))
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


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
