"""Suggested start and end per session, from the windows around the scheduled boundaries.

Only ``radius_s`` either side of each scheduled start and end is read (overlapping windows
merged, so a break shared by two sessions is analysed once). Per session:

* an operator mark always wins (confidence 1 for that edge);
* else the break whose end (for a start) or start (for an end) is nearest the schedule, late
  being likelier than early; a break with both sound and picture evidence scores highest;
* else a change point (picture cut, better with a change of sound), with a low score;
* else the scheduled time, with a very low score.

An end no person gave is searched around the predicted end, but never after the next session's
known start (its start mark, or a bound the caller knows). The session's confidence is the
lower of its two edges'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from streamer.capture.timeline import Timeline
from streamer.detect.breaks import Break, Signal, change_points, find_breaks, learn_slates
from streamer.detect.signals import Signals, analyse
from streamer.schedule.model import Program, Session
from streamer.timeutil import iso

DEFAULT_RADIUS_S = 15 * 60.0
DEFAULT_MIN_BREAK_S = 6.0
EARLY_WEIGHT = 2.0  # talks start late far more often than early
SCHEDULE_SCORE = 0.05
MIN_SESSION_S = 30.0


class Edge(StrEnum):
    START = "start"
    END = "end"


@dataclass(frozen=True)
class Mark:
    """An operator's "started now" / "ended now": an exact boundary."""

    session_id: str
    edge: Edge
    at: datetime
    by: str = ""


@dataclass(frozen=True)
class Settings:
    radius_s: float = DEFAULT_RADIUS_S
    min_break_s: float = DEFAULT_MIN_BREAK_S


@dataclass
class Suggestion:
    session: Session
    start: datetime
    end: datetime
    confidence: float
    signals: list[Signal] = field(default_factory=list)

    def to_json(self, tz: Any = None) -> dict[str, Any]:
        return {
            "id": self.session.id,
            "scheduled_start": iso(self.session.start, tz),
            "scheduled_end": iso(self.session.end, tz),
            "suggested_start": iso(self.start, tz),
            "suggested_end": iso(self.end, tz),
            "confidence": round(self.confidence, 3),
            "signals": [
                {"kind": s.kind, "at": iso(s.at, tz), "score": round(s.score, 3)}
                for s in sorted(self.signals, key=lambda s: s.at)
            ],
        }


@dataclass
class Analysis:
    """Everything read from one broadcast's windows."""

    windows: list[Signals]
    breaks: list[Break]
    changes: list[Signal]
    media_s: float


def windows_for(
    sessions: list[Session], timeline: Timeline, radius_s: float
) -> list[tuple[datetime, datetime]]:
    """The merged ``±radius`` windows around every scheduled boundary, inside the recording."""
    if timeline.start is None or timeline.end is None:
        return []
    r = timedelta(seconds=radius_s)
    spans = sorted(
        (max(t - r, timeline.start), min(t + r, timeline.end))
        for s in sessions
        for t in (s.start, s.end)
    )
    merged: list[tuple[datetime, datetime]] = []
    for a, b in spans:
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def analyse_windows(timeline: Timeline, sessions: list[Session], settings: Settings) -> Analysis:
    windows = [
        analyse(timeline, a, b) for a, b in windows_for(sessions, timeline, settings.radius_s)
    ]
    slates = learn_slates(windows, settings.min_break_s)
    breaks = [b for w in windows for b in find_breaks(w, slates, settings.min_break_s)]
    changes = [c for w in windows for c in change_points(w)]
    return Analysis(windows, breaks, changes, sum(w.media_s for w in windows))


def _cost(offset_s: float, radius_s: float) -> float:
    """0 at the schedule, 1 at the radius (early counts double)."""
    weight = EARLY_WEIGHT if offset_s < 0 else 1.0
    return min(1.0, weight * abs(offset_s) / radius_s)


def _pick(
    edge: Edge,
    scheduled: datetime,
    analysis: Analysis,
    settings: Settings,
    after: datetime | None,
) -> tuple[datetime, float, list[Signal]]:
    """The best boundary for one edge, its score and the signals behind it."""
    best: tuple[float, datetime, float, list[Signal]] | None = None
    for brk in analysis.breaks:
        at = brk.end if edge is Edge.START else brk.start
        offset = (at - scheduled).total_seconds()
        if abs(offset) > settings.radius_s or (after is not None and at <= after):
            continue
        rank = brk.score * (1.0 - 0.5 * _cost(offset, settings.radius_s))
        if best is None or rank > best[0]:
            middle = brk.start + (brk.end - brk.start) / 2
            near = [
                g for g in brk.signals if (g.at >= middle) == (edge is Edge.START)
            ] or brk.signals
            best = (rank, at, brk.score, near)
    if best is not None:
        return best[1], best[2], best[3]
    changes = [
        c for c in analysis.changes
        if abs((c.at - scheduled).total_seconds()) <= settings.radius_s
        and (after is None or c.at > after)
    ]  # fmt: skip
    if changes:
        c = max(
            changes,
            key=lambda c: (
                c.score * (1 - 0.5 * _cost((c.at - scheduled).total_seconds(), settings.radius_s))
            ),
        )
        return c.at, c.score, [c]
    return scheduled, SCHEDULE_SCORE, [Signal("schedule", scheduled, SCHEDULE_SCORE)]


def _end_centre(
    s: Session,
    predicted_end: datetime,
    start: tuple[datetime, float, list[Signal]],
    by_edge: Mapping[tuple[str, Edge], Mark],
    following: Session | None,
    bound: datetime | None,
) -> datetime:
    """Where to search a session's end: the predicted end, capped by the next session's
    known start (that talk has begun). Not the found start plus the scheduled length: on the
    simulated days (scheduled slots back to back, each talk late by its own amount) that
    centre put ends up to 98 s off where the predicted end finds them within 2 s."""
    at = start[0]
    centre = predicted_end
    next_mark = by_edge.get((following.id, Edge.START)) if following is not None else None
    if next_mark is not None and following is not None and following.broadcast == s.broadcast:
        bound = next_mark.at if bound is None else min(bound, next_mark.at)
    if bound is not None and at < bound < centre:
        centre = bound
    return centre


def suggest_sessions(
    timeline: Timeline,
    program: Program,
    sessions: list[Session],
    *,
    settings: Settings | None = None,
    marks: list[Mark] | None = None,
    analysis: Analysis | None = None,
    centres: Mapping[str, tuple[datetime, datetime]] | None = None,
    bounds: Mapping[str, datetime] | None = None,
) -> list[Suggestion]:
    """A suggestion per session (in schedule order); marks override the analysis.

    ``centres`` (session id → start, end) moves the search of those sessions from the
    scheduled times to others: the predicted window on a day running late. ``bounds``
    (session id → the next session's known start) caps where an end is searched."""
    settings = settings or Settings()
    ordered = sorted(sessions, key=lambda s: s.start)
    moved = {
        s.id: s.model_copy(update={"start": centres[s.id][0], "end": centres[s.id][1]})
        for s in ordered
        if centres and s.id in centres
    }
    searched = [moved.get(s.id, s) for s in ordered]
    analysis = analysis or analyse_windows(timeline, searched, settings)
    by_edge = {(m.session_id, m.edge): m for m in marks or []}
    out: list[Suggestion] = []
    previous_start: datetime | None = None
    for i, (s, c) in enumerate(zip(ordered, searched, strict=True)):
        edges: dict[Edge, tuple[datetime, float, list[Signal]]] = {}
        for edge, scheduled in ((Edge.START, c.start), (Edge.END, c.end)):
            mark = by_edge.get((s.id, edge))
            if mark is not None:
                edges[edge] = (mark.at, 1.0, [Signal("mark", mark.at, 1.0)])
                continue
            if edge is Edge.END:
                following = ordered[i + 1] if i + 1 < len(ordered) else None
                scheduled = _end_centre(
                    s, c.end, edges[Edge.START], by_edge, following, (bounds or {}).get(s.id)
                )
            after = (
                previous_start
                if edge is Edge.START
                else edges[Edge.START][0] + timedelta(seconds=MIN_SESSION_S)
            )
            edges[edge] = _pick(edge, scheduled, analysis, settings, after)
        start, end = edges[Edge.START], edges[Edge.END]
        if end[0] <= start[0]:  # never an empty or inverted window: fall back to the schedule
            end = (max(c.end, start[0] + timedelta(seconds=MIN_SESSION_S)), SCHEDULE_SCORE, [])
        previous_start = start[0]
        out.append(Suggestion(s, start[0], end[0], min(start[1], end[1]), [*start[2], *end[2]]))
    return out
