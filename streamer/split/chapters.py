"""YouTube chapters (``00:00 Title`` lines) for one broadcast, relative to its actual start."""

from __future__ import annotations

from datetime import datetime

from streamer.capture.timeline import Timeline
from streamer.errors import SplitError
from streamer.schedule.model import Program, title_text

OPENING = "Opening"


def stamp(seconds: float) -> str:
    """``MM:SS``, or ``H:MM:SS`` from one hour on (YouTube's format)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def chapters_text(
    timeline: Timeline,
    program: Program,
    broadcast_id: str,
    *,
    lang: str | None = None,
) -> str:
    """One line per session of the broadcast that starts inside the recording.

    Offsets count from the recording's first segment (the broadcast's actual start). The first
    line is always ``00:00`` as YouTube requires: an "Opening" line when the first session
    starts later, or the first session itself when it starts at (or before) the beginning.
    """
    try:
        broadcast = program.broadcast(broadcast_id)
    except KeyError as exc:
        raise SplitError(f"no broadcast {broadcast_id!r} in {program.event.id}") from exc
    origin: datetime = timeline.start or broadcast.start
    finish = timeline.end or broadcast.end
    lines: list[tuple[float, str]] = []
    for session in program.sessions_of(broadcast_id):
        if not session.record or session.start >= finish:
            continue
        offset = max(0.0, (session.start - origin).total_seconds())
        title = title_text(session.title, lang or session.language)
        if lines and int(lines[-1][0]) == int(offset):
            lines[-1] = (offset, title)  # two sessions on one second: the later one wins
        else:
            lines.append((offset, title))
    if not lines or int(lines[0][0]) > 0:
        opening = title_text(broadcast.title, lang) if broadcast.title else OPENING
        lines.insert(0, (0.0, opening))
    return "".join(f"{stamp(offset)} {title}\n" for offset, title in lines)
