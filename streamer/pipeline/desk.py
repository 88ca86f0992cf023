"""The media team's cut corrections: a new window (cut), an accepted held cut or suggestion
(accept), a suggested window (suggest), each checked against its broadcast and audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.detect import Settings as DetectSettings
from streamer.detect import suggest_sessions
from streamer.errors import IllegalTransition, NotFoundError
from streamer.pipeline import stages
from streamer.pipeline.audit import Action, AuditLog
from streamer.pipeline.control import AcceptRequest, CutRequest, check_cut
from streamer.pipeline.marks import MarkStore, broadcast_until, revision
from streamer.pipeline.processing import Processor
from streamer.pipeline.review import review_of
from streamer.pipeline.runner import Runner
from streamer.pipeline.states import SessionState
from streamer.pipeline.store import SessionView, Store
from streamer.schedule.model import Program
from streamer.timeutil import aware, parse_iso
from streamer.vod.folder import Outputs, load_record

Window = tuple[datetime | None, datetime | None]


@dataclass
class Desk:
    """What the orchestrator's cut controls decide and store; it runs what they ask for."""

    settings: Settings
    store: Store
    processor: Processor
    runner: Runner
    deliver: Callable[[], None]  # send the events a stage queued

    def correct(self, s: SessionView, request: CutRequest, tz: Any, source: str) -> Window:
        """Store the window ``request`` asks for (the other edge as corrected before), audited;
        returns it."""
        start, end = self.store.correction(s.event_id, s.id) or (None, None)
        if request.start is not None:
            start = aware(request.start, tz)
        if request.end is not None:
            end = aware(request.end, tz)
        if request.start_offset_s is not None:
            start = s.start + timedelta(seconds=request.start_offset_s)
        if request.end_offset_s is not None:
            end = s.end + timedelta(seconds=request.end_offset_s)
        self.check_window(s, start or s.start, end or s.end, tz)
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
        return start, end

    def check_window(self, s: SessionView, start: datetime, end: datetime, tz: Any) -> None:
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

    def suggest(self, s: SessionView, program: Program) -> dict[str, Any]:
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

    def accepted_window(self, s: SessionView, request: AcceptRequest, program: Program) -> Window:
        """The window an accept names, checked: one edge given, the other as in force."""
        tz = program.event.tz
        start = aware(request.start, tz) if request.start else None
        end = aware(request.end, tz) if request.end else None
        if start is not None or end is not None:
            info = review_of(self.store, program, s.key)
            start = start or parse_iso(info["cut_start"])
            end = end or parse_iso(info["cut_end"])
            self.check_window(s, start, end, tz)
        return start, end

    async def decide(
        self, s: SessionView, request: AcceptRequest, window: Window, source: str
    ) -> bool:
        """Under the session's lock: check the revision, then record the decision; True when a
        re-cut of the given window is to follow."""
        start, end = window
        audit = AuditLog(self.store)
        by = request.by or "admin"

        def refuse(why: str) -> IllegalTransition:
            audit.add(s.event_id, s.id, Action.REFUSED, by=by, source=source, start=start,
                      end=end, detail=why)  # fmt: skip
            return IllegalTransition(f"{s.key}: {why}")

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
            if held.state != SessionState.HELD:
                raise refuse(f"it is {held.state}, not held for review")
            try:
                await self.runner.run(
                    stages.accept_stage, self.settings, s.event_id, s.id, f"{by} ({source})"
                )
            finally:
                self.deliver()
            window = held_window(self.settings, s.event_id, s.id)
            audit.add(s.event_id, s.id, Action.ACCEPT, by=by, source=source,
                      start=window[0], end=window[1], detail="held cut accepted")  # fmt: skip
            return False


def held_window(settings: Settings, event_id: str, session_id: str) -> tuple[datetime, datetime]:
    """The window of a session's cut as its VOD record says (the held cut just accepted)."""
    record = load_record(Outputs.of(settings.vods_dir, event_id, session_id).json)
    if record is None:
        raise NotFoundError(f"{event_id}.{session_id}: no cut on disk")
    return parse_iso(record.start), parse_iso(record.end)
