"""What the orchestrator does at start (and reload) before it plans: load the schedules into
the state DB, and fail the sessions a crash caught mid-stage so that they retry at once."""

from __future__ import annotations

import logging

from streamer.config import Settings
from streamer.errors import ScheduleError
from streamer.pipeline.runner import InProcessRunner, Runner
from streamer.pipeline.states import SESSION_IN_STAGE, SessionState
from streamer.pipeline.store import Diff, Store
from streamer.pipeline.sweep import sweep_split_work
from streamer.schedule.load import load_dir
from streamer.schedule.model import Program
from streamer.timeutil import now

log = logging.getLogger(__name__)


def read_schedules(settings: Settings) -> list[Program]:
    """The programs in ``settings.schedules``; raises ScheduleError (logged) when one is wrong."""
    try:
        return load_dir(settings.schedules) if settings.schedules.exists() else []
    except ScheduleError as exc:
        log.error("schedules not (re)loaded:\n%s", "\n".join(exc.problems))
        raise


def sync_programs(store: Store, programs: list[Program], loaded: dict[str, Program]) -> Diff:
    """Sync each program into the store and into ``loaded`` (by event id); what changed."""
    diff = Diff()
    for program in programs:
        d = store.sync_program(program)
        loaded[program.event.id] = program
        diff.added += d.added
        diff.changed += d.changed
        diff.removed += d.removed
        diff.kept += d.kept
    return diff


def recover_interrupted(settings: Settings, store: Store, runner: Runner) -> None:
    """Sessions caught mid-split or mid-publish by a crash are retried at once (a crash is no
    failure to back off from): their outputs are written atomically, so a rerun starts
    clean, and the work files the crash left are swept first."""
    moment = now()
    if isinstance(runner, InProcessRunner):
        # only then is no split running anywhere; a queue's workers sweep their own
        # session's leftovers before each split
        sweep_split_work(settings)
    for s in store.sessions():
        if s.state in SESSION_IN_STAGE:
            reason = f"interrupted while {s.state} (restart)"
            store.set_session_state(
                s.event_id, s.id, SessionState.FAILED, reason, next_try_at=moment
            )
