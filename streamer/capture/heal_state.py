"""The heal's state in ``recording.json``: what it learnt of the source (the media clock's
wall-clock zero, the broadcast's start) and how far its last pass got (``heal``), which the
pipeline reads to know when a session's holes are settled and when to cut it again."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from streamer.capture.heal_report import HealReport
from streamer.capture.timeline import Timeline, TimelineWriter
from streamer.timeutil import iso, now, parse_iso


def learnt_zero(meta: dict[str, Any]) -> float | None:
    """Wall-clock (epoch s) of media time 0, as an earlier heal learnt it."""
    value = meta.get("stream_zero")
    return float(value) if isinstance(value, int | float) else None


def learnt_start(meta: dict[str, Any]) -> datetime | None:
    """The broadcast's start, as an earlier heal learnt it."""
    value = meta.get("broadcast_start")
    return parse_iso(value) if isinstance(value, str) else None


def save_heal_state(
    directory: Path,
    writer: TimelineWriter,
    timeline: Timeline,
    report: HealReport,
    *,
    zero: float | None,
    broadcast_start: datetime | None,
    unsettled: datetime | None = None,
) -> None:
    """Record this pass: ``timeline`` as it began, ``unsettled`` the first hole it failed on."""
    meta = dict(Timeline.load(directory).meta or timeline.meta)
    if zero is not None:
        meta["stream_zero"] = zero
    if broadcast_start is not None:
        meta["broadcast_start"] = iso(broadcast_start)
    final = report.status == "was_live" or (report.status == "post_live" and report.complete)
    stamp = iso(now())
    before = meta.get("heal")
    # when a heal last added media: what was cut before then is cut again (the service)
    filled = before.get("filled_at") if isinstance(before, dict) else None
    if report.segments:
        filled = stamp
    seen = timeline.end
    if seen is not None and unsettled is not None:
        seen = min(seen, unsettled)
    meta["heal"] = {
        "at": stamp,
        "filled_at": filled,
        "source_status": report.status,
        "remaining_s": round(sum((e - s).total_seconds() for s, e, _ in report.remaining), 3),
        "final": bool(final),
        # the timeline's end when this pass began: it tried every hole before it (up to
        # the first hole it failed on, which a later pass must try again)
        "seen_until": iso(seen) if seen is not None else None,
    }
    writer.write_meta(meta)
