"""The holes a heal may fill: time the timeline does not cover, and where a healed segment
goes in one (its live HLS number, continuing the neighbour's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from streamer.capture.timeline import GAP_TOLERANCE_S, Segment, Timeline

TOL_S = 0.25  # fragment and span times this close are the same moment
DEFAULT_STEP_S = 2.0  # segment length when neither a neighbour nor the source gives one

# (start, end, reason) of time a heal could not fill
Span = tuple[datetime, datetime, str]


@dataclass(frozen=True)
class Hole:
    start: datetime
    end: datetime
    part: int
    prev: Segment | None
    next: Segment | None
    step: float | None = None  # segment length when there is no neighbour to take it from

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def holes(
    timeline: Timeline,
    head_start: datetime | None = None,
    tail_end: datetime | None = None,
    step: float | None = None,
) -> list[Hole]:
    """Uncovered time between segments, before the first back to ``head_start``, and after
    the last up to ``tail_end`` (the source's end: a broadcast recorded after it ended)."""
    segs = timeline.segments
    out: list[Hole] = []
    if not segs:
        if head_start is None or tail_end is None:
            return out
        if (tail_end - head_start).total_seconds() > GAP_TOLERANCE_S:
            out.append(Hole(head_start, tail_end, 1, None, None, step))
        return out
    if head_start is not None and (segs[0].start - head_start).total_seconds() > GAP_TOLERANCE_S:
        out.append(Hole(head_start, segs[0].start, segs[0].part, None, segs[0]))
    covered = segs[0]
    for seg in segs[1:]:
        if (seg.start - covered.end).total_seconds() > GAP_TOLERANCE_S:
            part = covered.part if covered.part == seg.part else seg.part
            prev = covered if covered.part == part else None
            out.append(Hole(covered.end, seg.start, part, prev, seg))
        if seg.end > covered.end:
            covered = seg
    if tail_end is not None and (tail_end - covered.end).total_seconds() > GAP_TOLERANCE_S:
        out.append(Hole(covered.end, tail_end, covered.part, covered, None))
    return out


def plan(found: Sequence[Hole], known_lost: Sequence[Span]) -> tuple[list[Hole], list[Span]]:
    """The holes to heal, and those lying within a span already known lost (with its reason:
    while live it cannot come back, so it is not asked for again)."""
    todo: list[Hole] = []
    lost: list[Span] = []
    tol = timedelta(seconds=TOL_S)
    for hole in found:
        reason = next(
            (r for s, e, r in known_lost if s - tol <= hole.start and hole.end <= e + tol), None
        )
        if reason is None:
            todo.append(hole)
        else:
            lost.append((hole.start, hole.end, reason))
    return todo, lost


def hole_step(hole: Hole) -> float:
    """The segment length in ``hole``: its neighbour's, else the one it was given."""
    ref = hole.prev or hole.next
    return ref.duration if ref is not None else (hole.step or DEFAULT_STEP_S)


def seq_for(hole: Hole, start: datetime) -> int:
    """The live HLS number of the segment at ``start``: continues the neighbour's numbering."""
    if hole.prev is not None:
        return (
            hole.prev.seq + 1 + round((start - hole.prev.end).total_seconds() / hole.prev.duration)
        )
    if hole.next is None:  # nothing recorded yet: number from the hole's start
        return round((start - hole.start).total_seconds() / hole_step(hole))
    return hole.next.seq - round((hole.next.start - start).total_seconds() / hole.next.duration)
