"""A session's window mapped through a recording's timeline: pieces, gaps, coverage, status."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from streamer.capture.timeline import GAP_TOLERANCE_S, Gap, Piece, Timeline
from streamer.errors import SplitError
from streamer.schedule.model import Program, Session

Status = Literal["complete", "incomplete", "missing"]
# Bump when the cut itself changes, so old outputs are redone.
PLAN_VERSION = 2  # 2: the window is half-open, the frame on screen at its end is not kept


@dataclass(frozen=True)
class SessionPlan:
    event_id: str
    session_id: str
    broadcast_id: str
    scheduled_start: datetime
    scheduled_end: datetime
    start: datetime  # the window actually asked for (corrections and pad applied)
    end: datetime
    pieces: list[Piece]
    gaps: list[Gap]
    coverage: float  # covered share of the window, 0..1
    status: Status
    reason: str

    @property
    def window_s(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def covered_s(self) -> float:
        return sum(p.duration_s for p in self.pieces)

    def fingerprint(self, mode: str) -> str:
        """Changes whenever the output would: window, mode, and every input file's size."""
        body = {
            "v": PLAN_VERSION,
            "mode": mode,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "pieces": [
                {
                    "part": p.part,
                    "in": round(p.offset_in, 6),
                    "out": round(p.offset_out, 6),
                    "files": [[f.name, _size(f)] for f in p.files],
                }
                for p in self.pieces
            ],
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _clock(moment: datetime, program: Program) -> str:
    local = moment.astimezone(program.event.tz)
    return local.strftime("%H:%M:%S" if local.second else "%H:%M")


def describe_span(start: datetime, end: datetime, program: Program) -> str:
    """``10:00-10:40 KST`` in the event's zone."""
    zone = end.astimezone(program.event.tz).tzname() or program.event.timezone
    return f"{_clock(start, program)}-{_clock(end, program)} {zone}"


def window_of(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    pad_s: float = 0.0,
) -> tuple[datetime, datetime]:
    """The cut window: the schedule, overridden by corrected times, widened by the pad."""
    if start is not None and start.tzinfo is None:
        raise SplitError(f"{session.id}: start correction {start} has no timezone")
    if end is not None and end.tzinfo is None:
        raise SplitError(f"{session.id}: end correction {end} has no timezone")
    if pad_s < 0:
        raise SplitError(f"{session.id}: pad must not be negative ({pad_s})")
    # in UTC: wall-clock arithmetic in one zone is wrong across a daylight-saving change
    lo = (start or session.start).astimezone(UTC) - timedelta(seconds=pad_s)
    hi = (end or session.end).astimezone(UTC) + timedelta(seconds=pad_s)
    if hi <= lo:
        raise SplitError(
            f"{session.id}: window ends ({hi.isoformat()}) before it starts ({lo.isoformat()})"
        )
    return lo, hi


def plan_session(
    timeline: Timeline,
    program: Program,
    session_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    pad_s: float = 0.0,
) -> SessionPlan:
    """Map one session through the timeline. Never raises for lack of media: see ``status``."""
    try:
        session = program.session(session_id)
    except KeyError as exc:
        raise SplitError(f"no session {session_id!r} in {program.event.id}") from exc
    lo, hi = window_of(session, start=start, end=end, pad_s=pad_s)
    window_s = (hi - lo).total_seconds()
    pieces = [p for p in timeline.pieces(lo, hi) if p.duration_s > 1e-3]
    gaps = timeline.gaps_within(lo, hi)
    covered = min(window_s, sum(p.duration_s for p in pieces))
    coverage = covered / window_s
    span = describe_span(lo, hi, program)
    status: Status
    if not pieces or covered <= GAP_TOLERANCE_S:
        status, coverage, pieces = "missing", 0.0, []
        reason = f"missing: no recording covers {span}"
        if timeline.start is not None and timeline.end is not None:
            reason += f" (recording has {describe_span(timeline.start, timeline.end, program)})"
        # why: gap rows a heal wrote (e.g. recorded after the end, the source held nothing)
        why = sorted({g.reason for g in timeline.explicit_gaps if g.start < hi and g.end > lo})
        if why:
            reason += "; " + "; ".join(r for r in why if r)
    elif gaps:
        status = "incomplete"
        holes = ", ".join(describe_span(g.start, g.end, program) for g in gaps)
        reason = f"incomplete: {coverage:.1%} of {span} covered; gaps {holes}"
    else:
        status, coverage = "complete", 1.0
        reason = ""
    return SessionPlan(
        event_id=program.event.id,
        session_id=session.id,
        broadcast_id=session.broadcast,
        scheduled_start=session.start,
        scheduled_end=session.end,
        start=lo,
        end=hi,
        pieces=pieces,
        gaps=gaps,
        coverage=round(coverage, 4),
        status=status,
        reason=reason,
    )
