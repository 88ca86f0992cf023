"""Which cut a session's VOD uses, by the event's ``cut_policy`` (docs/cuts.md):

* a correction (``POST .../cut``) wins its edge, then an operator mark;
* ``schedule``: the scheduled time for every other edge;
* ``auto``: the suggested cut when its confidence reaches ``auto_cut_confidence``, else the
  scheduled cut flagged ``needs_review``;
* ``review``: chosen as ``auto``, then held until the media team accepts it, unless a person
  already gave both edges.

On a day running late (a known start earlier on the broadcast and day), "the scheduled time"
of an edge no person gave is the predicted one (the schedule shifted by the running delay),
and the suggestion is searched around it: a day 40 minutes late is cut where it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from streamer.capture.timeline import Timeline
from streamer.detect import Edge, Mark, suggest_sessions
from streamer.detect import Settings as DetectSettings
from streamer.detect.delay import Predicted
from streamer.errors import StreamerError
from streamer.pipeline.marks import MarkStore, predicted_windows
from streamer.pipeline.store import Store
from streamer.schedule.model import CutPolicy, Program
from streamer.vod import CutInfo

# the strongest source named when edges differ
_RANK = ("correction", "mark", "suggested", "schedule")
_EDGES = (Edge.START, Edge.END)


@dataclass(frozen=True)
class CutChoice:
    start: datetime | None  # None: the scheduled time
    end: datetime | None
    cut: CutInfo
    needs_review: bool = False
    hold: bool = False  # wait for the media team to accept before publishing


def choose_cut(
    store: Store,
    program: Program,
    session_id: str,
    recording_dir: Path,
    *,
    radius_s: float,
    threshold: float,
) -> CutChoice:
    event_id = program.event.id
    policy = program.event.cut_policy
    given: dict[Edge, tuple[datetime, str]] = {}
    correction = store.correction(event_id, session_id)
    for edge, at in zip((Edge.START, Edge.END), correction or (None, None), strict=True):
        if at is not None:
            given[edge] = (at, "correction")
    for edge, m in MarkStore(store).latest(event_id, session_id).items():
        given.setdefault(edge, (m.at, "mark"))
    p = predicted_windows(store, event_id).get(session_id)
    shifted = p is not None and p.since is not None and p.delay_s != 0
    base = (p.start, p.end) if p is not None and shifted else (None, None)
    start, end = (given[e][0] if e in given else b for e, b in zip(_EDGES, base, strict=True))
    people = sorted({src for _, src in given.values()}, key=_RANK.index)
    if len(given) == 2 or policy is CutPolicy.SCHEDULE:
        source = people[0] if people else "schedule"
        reason = _given_reason(given)
        if len(given) < 2:
            rest = f"the scheduled times{_delay(p)}"
            reason = f"{reason}; otherwise {rest}" if reason else f"cut_policy schedule: {rest}"
        return CutChoice(
            start,
            end,
            CutInfo(source=source, reason=reason),
            hold=policy is CutPolicy.REVIEW and len(given) < 2,
        )
    hold = policy is CutPolicy.REVIEW
    marks = [Mark(session_id, edge, at) for edge, (at, _) in given.items()]
    try:
        found = suggest_sessions(
            Timeline.load(recording_dir),
            program,
            [program.session(session_id)],
            settings=DetectSettings(radius_s=radius_s),
            marks=marks,
            centres={session_id: (p.start, p.end)} if p is not None and shifted else None,
            bounds={session_id: p.bound} if p is not None and p.bound is not None else None,
        )[0]
    except StreamerError as exc:
        reason = f"detection failed ({exc}): the scheduled times{_delay(p)}"
        source = people[0] if people else "schedule"
        return CutChoice(start, end, CutInfo(source=source, reason=reason), True, hold)
    confidence = round(found.confidence, 3)
    kinds = "+".join(sorted({s.kind for s in found.signals})) or "nothing"
    if found.confidence >= threshold:
        source = people[0] if people else "suggested"
        reason = f"suggested from {kinds}, confidence {confidence} ≥ {threshold}"
        if given:
            reason += f"; {_given_reason(given)}"
        return CutChoice(
            found.start,
            found.end,
            CutInfo(source=source, confidence=confidence, reason=reason),
            needs_review=hold,
            hold=hold,
        )
    reason = (
        f"suggestion confidence {confidence} < {threshold} ({kinds}): "
        f"the scheduled times{_delay(p)}"
    )
    if given:
        reason += f"; {_given_reason(given)}"
    source = people[0] if people else "schedule"
    return CutChoice(
        start, end, CutInfo(source=source, confidence=confidence, reason=reason), True, hold
    )


def _delay(p: Predicted | None) -> str:
    """How the scheduled times were shifted, for the reason (empty when they were not)."""
    if p is None or p.since is None or p.delay_s == 0:
        return ""
    sign = "+" if p.delay_s > 0 else "-"
    minutes = abs(p.delay_s) / 60
    return f" shifted by the running delay ({sign}{minutes:.1f} min, known from {p.since})"


def _given_reason(given: dict[Edge, tuple[datetime, str]]) -> str:
    return ", ".join(f"{edge} from a {src}" for edge, (_, src) in sorted(given.items()))
