"""The running delay: once a session's real start is known, later sessions of the same
broadcast and day shift by the same delay, until the next known point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from streamer.schedule.model import Session


@dataclass(frozen=True)
class Predicted:
    start: datetime
    end: datetime
    delay_s: float  # predicted start − scheduled start
    known: bool  # the start is a known point, not a prediction
    since: str | None  # the session whose known start sets the delay
    bound: datetime | None = None  # the next session's known start: the latest end


def predict(
    sessions: list[Session], known_starts: Mapping[str, datetime], tz: ZoneInfo
) -> dict[str, Predicted]:
    """Predicted windows of ``sessions``; ``known_starts`` maps session ids to real starts.

    A session ends its scheduled length after its (known or predicted) start, but never
    after the next session's known start: that talk has begun."""
    out: dict[str, Predicted] = {}
    groups: dict[tuple[str, object], list[Session]] = {}
    for s in sessions:
        groups.setdefault((s.broadcast, s.start.astimezone(tz).date()), []).append(s)
    for group in groups.values():
        delay = timedelta(0)
        since: str | None = None
        ordered = sorted(group, key=lambda s: s.start)
        for i, s in enumerate(ordered):
            real = known_starts.get(s.id)
            if real is not None:
                delay, since = real - s.start, s.id
            start, end = s.start + delay, s.end + delay
            following = known_starts.get(ordered[i + 1].id) if i + 1 < len(ordered) else None
            bound = following if following is not None and following > start else None
            out[s.id] = Predicted(
                start=start,
                end=end if bound is None else min(end, bound),
                delay_s=delay.total_seconds(),
                known=real is not None,
                since=since,
                bound=bound,
            )
    return out


def describe(delay_s: float, lang: str = "en") -> str:
    """``running ~7 min late`` / ``running ~2 min early`` / ``on time``; in Korean
    ``약 7분 지연`` / ``약 2분 일찍`` / ``정시 진행``."""
    minutes = round(abs(delay_s) / 60)
    late = delay_s > 0
    if lang == "ko":
        if minutes == 0:
            return "정시 진행"
        return f"약 {minutes}분 {'지연' if late else '일찍'}"
    if minutes == 0:
        return "on time"
    return f"running ~{minutes} min {'late' if late else 'early'}"


def labels(delay_s: float) -> dict[str, str]:
    """The delay in every language the service speaks."""
    return {lang: describe(delay_s, lang) for lang in ("en", "ko")}
