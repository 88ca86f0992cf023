"""Session processing: decide whether a session may be cut now, then hand the stages to the
runner. The stages record every outcome in the store; this module only reads it back to plan
what comes next (a retry at ``next_try_at``, webhook delivery).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.pipeline import stages
from streamer.pipeline.marks import cut_by
from streamer.pipeline.runner import Runner
from streamer.pipeline.states import BROADCAST_ACTIVE, SESSION_DONE, SessionState
from streamer.pipeline.store import SessionView, Store
from streamer.timeutil import now, parse_iso

S = SessionState
COVER_POLL_S = 5.0  # how soon to look again when capture has not yet reached a session's end


@dataclass(frozen=True)
class Hooks:
    """What processing asks of the orchestrator that owns it."""

    plan: Callable[[SessionView], None]  # (re)plan the session's process job from its row
    retry: Callable[[SessionView], None]  # plan the retry the policy stored in the row
    settled: Callable[[], None]  # stages ran: deliver what they queued
    later: Callable[[SessionView, datetime], None]  # look at the session again at a time


class Processor:
    """Runs split → publish (and unpublish) of sessions, one at a time per session."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        runner: Runner,
        hooks: Hooks,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock  # injected: a late day is tested in simulated time (None: ``now``)
        self.store = store
        self.runner = runner
        self.hooks = hooks
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def process(
        self, event_id: str, session_id: str, *, force: bool = False, manual: bool = False
    ) -> SessionView:
        """Split then publish one session; failures are stored and retried with backoff."""
        async with self.lock(f"{event_id}.{session_id}"):
            s = self.store.session(event_id, session_id)
            if not s.scheduled.record:
                return self.store.set_session_state(
                    event_id, session_id, S.SKIPPED, "record: false"
                )
            if s.state in SESSION_DONE and not manual:
                return s
            b = self.store.broadcast(event_id, s.broadcast_id)
            grace = timedelta(seconds=self.settings.grace_s)
            if b.state in BROADCAST_ACTIVE and not manual:
                # a day running late is cut after its predicted end, not the scheduled one
                end = cut_by(self.store, event_id, session_id, s.end)
                if self._now() < end + grace:
                    self.hooks.plan(s)  # too early: the recording is still coming
                    return s
                if not self.captured(s):  # e.g. just restarted: capture is re-fetching
                    self.hooks.later(s, self._now() + timedelta(seconds=COVER_POLL_S))
                    return s
            try:
                await self.runner.run(
                    stages.process_stage, self.settings, event_id, session_id, force
                )
            finally:
                self.hooks.settled()
            s = self.store.session(event_id, session_id)
            if s.state == S.FAILED:
                self.hooks.retry(s)
            return s

    def _now(self) -> datetime:
        return self.clock() if self.clock is not None else now()

    def captured(self, s: SessionView) -> bool:
        """Whether a session of a broadcast still being captured may be cut: the timeline
        reaches past its end plus pad (what is missing inside is then a gap capture moved
        past), or the heal declared what remains final (``recording.json`` ``heal.final``).
        A broadcast that is over needs neither: its capture, backfill included, has ended.
        On a day running late the end is the predicted one."""
        rec = self.store.recording(s.event_id, s.broadcast_id)
        if rec is None or not rec.dir:
            return False
        return covers(Path(rec.dir), self.needed_until(s))

    def needed_until(self, s: SessionView) -> datetime:
        """How far the recording must reach before ``s`` may be cut: its predicted end (the
        scheduled one at least) plus pad. Every ``captured`` (local disk, raw store) asks this."""
        end = cut_by(self.store, s.event_id, s.id, s.end)
        return end + timedelta(seconds=self.settings.pad_s)

    async def unpublish(self, event_id: str, session_id: str) -> SessionView:
        async with self.lock(f"{event_id}.{session_id}"):
            await self.runner.run(stages.unpublish_stage, self.settings, event_id, session_id)
            return self.store.session(event_id, session_id)


def covers(recording: Path, until: datetime, *, files: bool = True) -> bool:
    """The recording is complete up to ``until``: its last segment ends at or past it, and
    every hole before it has been tried by a heal that could not fill it (a pass that began
    once the hole was closed: ``heal.seen_until``; the DVR may still hold what a hole
    lacks, so cutting before would publish a false incomplete VOD). Or its heal says
    nothing more will come (``heal.final``). A hole no heal pass has looked at yet (the first
    comes some seconds into a capture, or into a restarted one) holds the session too; on a
    generic HLS source, which has no DVR to heal from, that is until the broadcast is over.
    ``files`` False: ``recording`` holds the rows without the media (the raw store's copy).
    """
    timeline = Timeline.load(recording, files=files)
    heal = timeline.meta.get("heal")
    if isinstance(heal, dict) and heal.get("final") is True:
        return True
    if timeline.end is None or timeline.end < until:
        return False
    seen = heal.get("seen_until") if isinstance(heal, dict) else None
    seen_until = parse_iso(seen) if isinstance(seen, str) else None
    return all(
        seen_until is not None and hole.end <= seen_until
        for hole in timeline.gaps()
        if hole.start < until
    )
