"""The orchestrator: plans every broadcast's watch and every session's split and publish, and
answers the media team's controls.

APScheduler (persistent SQLAlchemy job store in the state DB) fires the planned jobs; a
restart re-plans from the DB as well, so nothing depends on the job store alone. The work
itself lives elsewhere: captures in :mod:`~streamer.pipeline.capture_task`, session
processing in :mod:`~streamer.pipeline.processing` (stages run by the :class:`Runner`), the
JSON views in :mod:`~streamer.pipeline.status`, the retry policy in
:mod:`~streamer.pipeline.retry`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from streamer import metrics
from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.detect import Edge, suggest_sessions
from streamer.detect import Settings as DetectSettings
from streamer.errors import (
    IllegalTransition,
    NotFoundError,
    ScheduleError,
    StorageError,
    StreamerError,
)
from streamer.pipeline import stages
from streamer.pipeline.audit import Action, AuditLog
from streamer.pipeline.capture_task import Captures
from streamer.pipeline.control import AcceptRequest, CutRequest, MarkRequest, check_cut
from streamer.pipeline.marks import MarkStore, MarkWatch, broadcast_until, cut_by, revision
from streamer.pipeline.processing import Hooks, Processor
from streamer.pipeline.reheal import HealWatch
from streamer.pipeline.retry import POLICY
from streamer.pipeline.review import make_preview, review_of
from streamer.pipeline.runner import InProcessRunner, Runner
from streamer.pipeline.states import (
    BROADCAST_ACTIVE,
    BROADCAST_OVER,
    SESSION_IN_STAGE,
    SESSION_PROCESSABLE,
    BroadcastState,
    SessionState,
)
from streamer.pipeline.status import (
    add_running_delay,
    broadcast_json,
    session_json,
    status_of,
)
from streamer.pipeline.store import Diff, SessionView
from streamer.pipeline.sweep import sweep_split_work, sweep_storage
from streamer.pipeline.webhooks import Notifier
from streamer.schedule.load import load_dir
from streamer.schedule.model import Program
from streamer.timeutil import aware, now, parse_iso
from streamer.vod.folder import Outputs, load_record
from streamer.youtube import Resolver

log = logging.getLogger(__name__)
B, S = BroadcastState, SessionState
URL_REFRESH_JOB = "refresh-urls"


# Job functions are module-level so the persistent job store can name them; the job store
# keeps only the ids. The orchestrator that owns the scheduler is passed in (as ``orch``) by
# its executor, never looked up globally, so two orchestrators in one process keep apart.
async def job_watch(event_id: str, broadcast_id: str, *, orch: Orchestrator | None = None) -> None:
    assert orch is not None, "run by an Orchestrator's scheduler"
    orch.captures.start(event_id, broadcast_id)


async def job_process(event_id: str, session_id: str, *, orch: Orchestrator | None = None) -> None:
    assert orch is not None, "run by an Orchestrator's scheduler"
    # the stage reads the broadcast's state and recording row: the capture's queued writes first
    await orch.captures.flush()
    await orch.processor.process(event_id, session_id)


async def job_reprocess(
    event_id: str, session_id: str, *, orch: Orchestrator | None = None
) -> None:
    assert orch is not None, "run by an Orchestrator's scheduler"
    await orch.processor.process(event_id, session_id, manual=True)


async def job_refresh_urls(*, orch: Orchestrator | None = None) -> None:
    assert orch is not None, "run by an Orchestrator's scheduler"
    await asyncio.to_thread(stages.refresh_urls_stage, orch.settings)


class _OwnedExecutor(AsyncIOExecutor):  # type: ignore[misc]
    """Runs each job with its owner passed in as ``orch``."""

    def __init__(self, owner: Orchestrator) -> None:
        super().__init__()
        self._owner = owner

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        super()._do_submit_job(_Bound(job, self._owner), run_times)


class _Bound:
    """A job seen through its owner: ``func`` gets ``orch=owner``, the rest is the job's."""

    def __init__(self, job: Any, owner: Orchestrator) -> None:
        self._job = job
        self.func = functools.partial(job.func, orch=owner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


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
        self._scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=self.settings.db_url)},
            executors={"default": _OwnedExecutor(self)},
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
        """Sessions caught mid-split or mid-publish by a crash are retried at once (a crash
        is no failure to back off from): their outputs are written atomically, so a rerun
        starts clean, and the work files the crash left are swept first."""
        moment = now()
        if isinstance(self.runner, InProcessRunner):
            # only then is no split running anywhere; a queue's workers sweep their own
            # session's leftovers before each split
            sweep_split_work(self.settings)
        for s in self.store.sessions():
            if s.state in SESSION_IN_STAGE:
                reason = f"interrupted while {s.state} (restart)"
                self.store.set_session_state(s.event_id, s.id, S.FAILED, reason, next_try_at=moment)

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
        if s.state not in SESSION_PROCESSABLE:
            self._remove_job(job_id)
            return
        # a day running late is cut at its predicted end, never before the scheduled one
        end = cut_by(self.store, s.event_id, s.id, s.end)
        at = end + timedelta(seconds=self.settings.grace_s)
        if s.state == S.FAILED:
            due = POLICY.next_try(s.attempts, s.next_try_at, s.updated_at)
            if due is None:
                self._remove_job(job_id)  # final; the media team can still publish by hand
                return
            at = max(at, due)
        self._add_job(job_id, job_process, max(at, now()), s.event_id, s.id)

    def _plan_retry(self, s: SessionView) -> None:
        """After a failure: the retry at the time the policy stored, if any."""
        if s.next_try_at is not None:
            self._add_job(f"process:{s.key}", job_process, s.next_try_at, s.event_id, s.id)

    def _plan_at(self, s: SessionView, at: datetime) -> None:
        self._add_job(f"process:{s.key}", job_process, at, s.event_id, s.id)

    def _after_broadcast(self, event_id: str, broadcast_id: str) -> None:
        """Once a capture is over, sessions that already started need not wait their end."""
        moment = now()
        for s in self.store.sessions(event_id):
            if s.broadcast_id != broadcast_id or s.start > moment:
                continue
            if s.state in SESSION_PROCESSABLE and not POLICY.gave_up(s.attempts):
                self._add_job(f"process:{s.key}", job_process, moment, event_id, s.id)
            elif s.state == S.INCOMPLETE:
                # a resumed capture may have filled what was missing: cut it again
                self._add_job(f"process:{s.key}", job_reprocess, moment, event_id, s.id)

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
                self._deliver()
            except Exception:  # the ticker must outlive any one bad row or DB hiccup
                log.exception("tick failed")
            await asyncio.sleep(self.tick_s)

    def _tick(self) -> None:
        """Move sessions along with the clock: waiting while watched, recording while live."""
        moment = now()
        bstate = {(b.event_id, b.id): b.state for b in self.store.broadcasts()}
        counts: dict[str, int] = {}
        sessions = self.store.sessions()
        for s in sessions:
            counts[s.state] = counts.get(s.state, 0) + 1
            b = bstate.get((s.event_id, s.broadcast_id))
            target = None
            if s.state in (S.PLANNED, S.WAITING) and b == B.LIVE and s.start <= moment < s.end:
                target = S.RECORDING
            elif s.state == S.PLANNED and b in BROADCAST_ACTIVE and moment < s.start:
                target = S.WAITING
            if target:
                self.store.set_session_state(s.event_id, s.id, target)
        for s in self.heals.due(self.store, sessions):  # a heal filled them since: re-cut
            self._add_job(f"process:{s.key}", job_reprocess, moment, s.event_id, s.id)
        for m in self.new_marks.new():  # e.g. `streamer mark`: its delay moves the plan now
            marked = {(s.event_id, s.id): s for s in sessions}.get((m.event_id, m.session_id))
            if marked is not None:  # a session removed since has nothing to plan
                self._plan_from(marked)
        metrics.SESSIONS.clear()
        for state, n in counts.items():
            metrics.SESSIONS.labels(state=state).set(n)
        metrics.BROADCASTS.clear()
        for state in set(bstate.values()):
            metrics.BROADCASTS.labels(state=state).set(list(bstate.values()).count(state))

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

    def cut(self, session_id: str, request: CutRequest, source: str = "api") -> dict[str, Any]:
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
        self._check_window(s, start or s.start, end or s.end, tz)
        self.store.add_correction(s.event_id, s.id, start, end)
        reset = request.start_offset_s == 0 and request.end_offset_s == 0
        AuditLog(self.store).add(
            s.event_id,
            s.id,
            Action.RESET if reset else Action.CORRECTION,
            by=request.by,
            source=source,
            start=start,
            end=end,
        )
        if start is not None:
            self._replan_after(s)
        done = self._call(self.processor.process(s.event_id, s.id, force=True, manual=True))
        return session_json(done, program)

    def _check_window(self, s: SessionView, start: datetime, end: datetime, tz: Any) -> None:
        """422 unless start < end inside the broadcast's window (a late day's predicted one),
        before anything is stored."""
        b = self.store.broadcast(s.event_id, s.broadcast_id)
        check_cut(
            start,
            end,
            broadcast=(b.start, broadcast_until(self.store, s.event_id, s.broadcast_id)),
            lead_s=self.settings.watch_lead_s,
            late_s=self.settings.late_limit_s,
            tz=tz,
        )

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
        program = self._program(s.event_id)
        rec = self.store.recording(s.event_id, s.broadcast_id)
        if rec is None or not Path(rec.dir).exists():
            raise NotFoundError(f"broadcast {s.broadcast_id!r} of {s.key} was never recorded")
        marks = MarkStore(self.store).in_force(s.event_id)
        found = suggest_sessions(
            Timeline.load(Path(rec.dir)),
            program,
            [program.session(s.id)],
            settings=DetectSettings(radius_s=self.settings.cut_radius_s),
            marks=marks,
        )
        return found[0].to_json(program.event.tz)

    def accept(self, session_id: str, request: AcceptRequest, source: str) -> dict[str, Any]:
        s = self.store.find_session(session_id)
        tz = self._program(s.event_id).event.tz
        start = aware(request.start, tz) if request.start else None
        end = aware(request.end, tz) if request.end else None
        if start is not None or end is not None:  # one edge given: the other as in force
            info = self.review(session_id)
            start = start or parse_iso(info["cut_start"])
            end = end or parse_iso(info["cut_end"])
            self._check_window(s, start, end, tz)
        audit = AuditLog(self.store)
        by = request.by or "admin"

        def refuse(why: str) -> IllegalTransition:
            audit.add(s.event_id, s.id, Action.REFUSED, by=by, source=source, start=start,
                      end=end, detail=why)  # fmt: skip
            return IllegalTransition(f"{s.key}: {why}")

        async def decide() -> bool:
            """Under the session's lock: check the revision, then record the decision; True
            when a re-cut of the given window is to follow."""
            async with self.processor.lock(f"{s.event_id}.{s.id}"):
                now_rev = revision(self.store, s.event_id, s.id)
                if request.revision is not None and request.revision != now_rev:
                    raise refuse(
                        f"the cut changed since revision {request.revision} (now {now_rev}, "
                        "another accept came first): nothing changed; reload and review again"
                    )
                if start is not None:
                    self.store.add_correction(s.event_id, s.id, start, end)
                    audit.add(s.event_id, s.id, Action.CORRECTION, by=by, source=source,
                              start=start, end=end, detail="accepted")  # fmt: skip
                    return True
                held = self.store.session(s.event_id, s.id)
                if held.state != S.HELD:
                    raise refuse(f"it is {held.state}, not held for review")
                try:
                    await self.runner.run(
                        stages.accept_stage, self.settings, s.event_id, s.id, f"{by} ({source})"
                    )
                finally:
                    self._deliver()
                window = held_window(self.settings, s.event_id, s.id)
                audit.add(s.event_id, s.id, Action.ACCEPT, by=by, source=source,
                          start=window[0], end=window[1], detail="held cut accepted")  # fmt: skip
                return False

        if self._call(decide()):
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


def held_window(settings: Settings, event_id: str, session_id: str) -> tuple[datetime, datetime]:
    """The window of a session's cut as its VOD record says (the held cut just accepted)."""
    record = load_record(Outputs.of(settings.vods_dir, event_id, session_id).json)
    if record is None:
        raise NotFoundError(f"{event_id}.{session_id}: no cut on disk")
    return parse_iso(record.start), parse_iso(record.end)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
