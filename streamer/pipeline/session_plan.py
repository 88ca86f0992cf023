"""When sessions move along and when their process jobs run: the decisions that the
orchestrator's planning and ticker act on."""

from __future__ import annotations

from datetime import datetime, timedelta

from streamer import metrics
from streamer.config import Settings
from streamer.pipeline.marks import cut_by
from streamer.pipeline.retry import POLICY
from streamer.pipeline.states import (
    BROADCAST_ACTIVE,
    SESSION_PROCESSABLE,
    BroadcastState,
    SessionState,
)
from streamer.pipeline.store import SessionView, Store
from streamer.timeutil import now

B, S = BroadcastState, SessionState


def process_at(settings: Settings, store: Store, s: SessionView) -> datetime | None:
    """When the session's process job runs; None when it has none (not processable, or its
    retries are over: the media team can still publish by hand)."""
    if s.state not in SESSION_PROCESSABLE:
        return None
    # a day running late is cut at its predicted end, never before the scheduled one
    end = cut_by(store, s.event_id, s.id, s.end)
    at = end + timedelta(seconds=settings.grace_s)
    if s.state == S.FAILED:
        due = POLICY.next_try(s.attempts, s.next_try_at, s.updated_at)
        if due is None:
            return None
        at = max(at, due)
    return max(at, now())


def cut_after_capture(
    store: Store, event_id: str, broadcast_id: str, moment: datetime
) -> list[tuple[SessionView, bool]]:
    """Once a capture is over, the sessions that already started and need not wait their end:
    ``(session, again)``, ``again`` for an incomplete one to cut again (a resumed capture
    may have filled what was missing)."""
    out: list[tuple[SessionView, bool]] = []
    for s in store.sessions(event_id):
        if s.broadcast_id != broadcast_id or s.start > moment:
            continue
        if s.state in SESSION_PROCESSABLE and not POLICY.gave_up(s.attempts):
            out.append((s, False))
        elif s.state == S.INCOMPLETE:
            out.append((s, True))
    return out


def clock_moves(
    sessions: list[SessionView],
    bstate: dict[tuple[str, str], BroadcastState],
    moment: datetime,
) -> list[tuple[SessionView, SessionState]]:
    """Sessions the clock moves along: waiting while watched, recording while live."""
    moves: list[tuple[SessionView, SessionState]] = []
    for s in sessions:
        b = bstate.get((s.event_id, s.broadcast_id))
        target = None
        if s.state in (S.PLANNED, S.WAITING) and b == B.LIVE and s.start <= moment < s.end:
            target = S.RECORDING
        elif s.state == S.PLANNED and b in BROADCAST_ACTIVE and moment < s.start:
            target = S.WAITING
        if target:
            moves.append((s, target))
    return moves


def count_states(
    sessions: list[SessionView], bstate: dict[tuple[str, str], BroadcastState]
) -> None:
    """Set the state gauges: sessions and broadcasts per state."""
    counts: dict[str, int] = {}
    for s in sessions:
        counts[s.state] = counts.get(s.state, 0) + 1
    metrics.SESSIONS.clear()
    for state, n in counts.items():
        metrics.SESSIONS.labels(state=state).set(n)
    metrics.BROADCASTS.clear()
    for state in set(bstate.values()):
        metrics.BROADCASTS.labels(state=state).set(list(bstate.values()).count(state))
