"""The state machines of broadcasts and sessions: every allowed transition, in one place."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from streamer.errors import IllegalTransition


class BroadcastState(StrEnum):
    PLANNED = "planned"  # known, its watch not yet started
    WATCHING = "watching"  # polling the resolver until it goes live
    LIVE = "live"  # capturing
    ENDED = "ended"  # capture finished (ENDLIST, was_live, stall after the end, or stop)
    FAILED = "failed"  # could not capture; reason says why
    MISSING = "missing"  # never went live in its window, or has no URL


class SessionState(StrEnum):
    PLANNED = "planned"
    WAITING = "waiting"  # its broadcast is being watched
    RECORDING = "recording"  # its window is open and the broadcast is live
    SPLITTING = "splitting"
    PUBLISHING = "publishing"
    HELD = "held"  # cut, held for the media team to accept (cut_policy: review)
    PUBLISHED = "published"
    INCOMPLETE = "incomplete"  # published, but the recording covers only part of it
    FAILED = "failed"  # nothing publishable; reason says why (retried with backoff)
    SKIPPED = "skipped"  # record: false
    UNPUBLISHED = "unpublished"  # taken down by the media team


B, S = BroadcastState, SessionState

BROADCAST_TRANSITIONS: dict[BroadcastState, frozenset[BroadcastState]] = {
    B.PLANNED: frozenset({B.WATCHING, B.LIVE, B.FAILED, B.MISSING}),
    B.WATCHING: frozenset({B.LIVE, B.ENDED, B.FAILED, B.MISSING, B.PLANNED}),
    B.LIVE: frozenset({B.WATCHING, B.ENDED, B.FAILED}),
    # a broadcast may be recorded again by hand, or resumed after a restart
    B.ENDED: frozenset({B.WATCHING, B.LIVE, B.PLANNED}),
    B.FAILED: frozenset({B.PLANNED, B.WATCHING, B.LIVE}),
    B.MISSING: frozenset({B.PLANNED, B.WATCHING, B.LIVE}),
}

_PROCESSABLE = frozenset({S.PLANNED, S.WAITING, S.RECORDING, S.FAILED})
SESSION_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    S.PLANNED: frozenset({S.WAITING, S.RECORDING, S.SPLITTING, S.FAILED, S.SKIPPED}),
    S.WAITING: frozenset({S.PLANNED, S.RECORDING, S.SPLITTING, S.FAILED, S.SKIPPED}),
    S.RECORDING: frozenset({S.WAITING, S.SPLITTING, S.FAILED, S.SKIPPED}),
    S.SPLITTING: frozenset({S.PUBLISHING, S.HELD, S.FAILED}),
    # accepted (→ publishing), or cut again
    S.HELD: frozenset({S.PUBLISHING, S.SPLITTING, S.PLANNED}),
    S.PUBLISHING: frozenset({S.PUBLISHED, S.INCOMPLETE, S.FAILED}),
    # re-cut, republish or take down
    S.PUBLISHED: frozenset({S.SPLITTING, S.PUBLISHING, S.UNPUBLISHED}),
    S.INCOMPLETE: frozenset({S.SPLITTING, S.PUBLISHING, S.UNPUBLISHED}),
    S.FAILED: frozenset({S.PLANNED, S.WAITING, S.RECORDING, S.SPLITTING, S.SKIPPED}),
    S.SKIPPED: frozenset({S.PLANNED}),
    S.UNPUBLISHED: frozenset({S.SPLITTING, S.PUBLISHING, S.PLANNED}),
}

# nothing left for the service to do by itself (a held VOD waits for a person)
SESSION_DONE = frozenset({S.PUBLISHED, S.INCOMPLETE, S.SKIPPED, S.UNPUBLISHED, S.HELD})
SESSION_PROCESSABLE = _PROCESSABLE
SESSION_PUBLISHED = frozenset({S.PUBLISHED, S.INCOMPLETE})  # a VOD is out
SESSION_IN_STAGE = frozenset({S.SPLITTING, S.PUBLISHING})  # a stage is running on it
BROADCAST_ACTIVE = frozenset({B.WATCHING, B.LIVE})  # its recording may still grow
BROADCAST_OVER = frozenset({B.ENDED, B.FAILED, B.MISSING})


class ClockState(StrEnum):
    """A session's state in the public program when no orchestrator says better: derived
    from the clock and the published catalog (``api/program.py``)."""

    UPCOMING = "upcoming"
    LIVE = "live"
    ENDED = "ended"  # over, not published yet
    UNKNOWN = "unknown"  # the orchestrator knows the session, the program does not


ProgramState = SessionState | ClockState
"""Any state a session may show in the public program."""

C = ClockState
# The viewer's badge for each state a program row may carry.
BADGE_ARCHIVED: frozenset[ProgramState] = frozenset(SESSION_PUBLISHED)
BADGE_UNAVAILABLE: frozenset[ProgramState] = frozenset({S.FAILED, S.SKIPPED, S.UNPUBLISHED})
BADGE_LIVE: frozenset[ProgramState] = frozenset({S.RECORDING, C.LIVE})
BADGE_PROCESSING: frozenset[ProgramState] = frozenset({S.SPLITTING, S.PUBLISHING, S.HELD, C.ENDED})
BADGE_WAITING: frozenset[ProgramState] = frozenset({S.PLANNED, S.WAITING, C.UPCOMING})


def check_broadcast(current: str, target: BroadcastState) -> BroadcastState:
    """Return ``target`` as a state if the move is allowed, else raise IllegalTransition."""
    return _check("broadcast", BroadcastState, BROADCAST_TRANSITIONS, current, target)


def check_session(current: str, target: SessionState) -> SessionState:
    return _check("session", SessionState, SESSION_TRANSITIONS, current, target)


T = TypeVar("T", BroadcastState, SessionState)


def _check(kind: str, enum: type[T], table: dict[T, frozenset[T]], current: str, target: str) -> T:
    try:
        cur, tgt = enum(current), enum(target)
    except ValueError as exc:
        raise IllegalTransition(f"unknown {kind} state: {exc}") from exc
    if cur == tgt:
        return tgt
    if tgt not in table[cur]:
        allowed = ", ".join(sorted(table[cur])) or "nothing"
        raise IllegalTransition(f"{kind} cannot go from {cur} to {tgt} (allowed: {allowed})")
    return tgt
