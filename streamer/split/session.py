"""One session end to end: plan, cut, thumbnail, probe, record; atomic and idempotent."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from streamer import vod
from streamer.capture.timeline import Timeline
from streamer.errors import SplitError
from streamer.schedule.model import Program
from streamer.split.cutter import CutResult, Mode, cut
from streamer.split.plan import SessionPlan, plan_session
from streamer.split.thumbnail import write_thumbnail
from streamer.timeutil import iso
from streamer.vod.folder import Outputs, load_record, write_event, write_record

__all__ = [
    "Outputs",
    "SplitResult",
    "load_record",
    "split_session",
    "sweep_split_temps",
    "write_event",
]

# tempfile.mkdtemp's names: ".{session}." + 8 characters of [a-z0-9_] + ".tmp"
_TEMP = re.compile(r"^\.(?P<session>.+)\.[a-z0-9_]{8}\.tmp$")


@dataclass(frozen=True)
class SplitResult:
    record: vod.VodRecord
    skipped: bool  # the outputs were already up to date
    plan: SessionPlan
    outputs: Outputs


def _up_to_date(out: Outputs, fingerprint: str) -> vod.VodRecord | None:
    record = load_record(out.json)
    if record is None or (record.model_extra or {}).get("split_fingerprint") != fingerprint:
        return None
    try:
        if out.mp4.stat().st_size != record.size_bytes or not out.jpg.exists():
            return None
    except OSError:
        return None
    return record


def split_session(
    recording_dir: Path,
    program: Program,
    session_id: str,
    out_root: Path,
    *,
    mode: Mode = "exact",
    start: datetime | None = None,
    end: datetime | None = None,
    pad_s: float = 0.0,
    force: bool = False,
    source_url: str | None = None,
    on_step: Callable[[str, float], None] | None = None,
) -> SplitResult:
    """Cut one session into ``{out_root}/{event}/{session}.mp4|.jpg|.json``.

    ``start``/``end`` replace the scheduled window (corrections, resolved to absolute times).
    Raises SplitError when no recording covers the window; an incomplete one is cut, with its
    gaps and coverage in the record. Outputs that match the plan are left alone unless ``force``.
    """
    timeline = Timeline.load(Path(recording_dir))
    plan = plan_session(timeline, program, session_id, start=start, end=end, pad_s=pad_s)
    if plan.status == "missing":
        raise SplitError(f"{session_id}: {plan.reason}")
    out = Outputs.of(out_root, program.event.id, session_id)
    write_event(program, out_root)
    sweep_split_temps(out.mp4.parent, session_id)  # what a killed split of it left
    fingerprint = plan.fingerprint(mode)
    if not force:
        existing = _up_to_date(out, fingerprint)
        if existing is not None:
            return SplitResult(existing, True, plan, out)

    work = Path(tempfile.mkdtemp(dir=out.mp4.parent, prefix=f".{session_id}.", suffix=".tmp"))
    try:
        tmp_mp4, tmp_jpg = work / "vod.mp4", work / "thumb.jpg"
        # the cut hashes its output as it reads it once, reads what it holds from its moov,
        # and offers a head frame it re-encoded as the thumbnail
        done = cut(
            plan.pieces,
            tmp_mp4,
            mode=mode,
            workdir=work / "parts",
            thumbnail=tmp_jpg,
            on_step=on_step,
        )
        info = done.info
        if info.duration_s <= 0 or info.video_codec is None:
            raise SplitError(f"{session_id}: the cut produced no playable video")
        if done.thumbnail is None:  # no head, or its frames are blank: sample the VOD
            write_thumbnail(tmp_mp4, tmp_jpg, info.duration_s)
        record = _record(plan, program, done, mode, fingerprint, source_url, timeline)
        # media first, record last: a record on disk always describes finished media, and
        # the old record goes first so a crash here leaves "not split", never a mismatch
        out.json.unlink(missing_ok=True)
        tmp_mp4.replace(out.mp4)
        tmp_jpg.replace(out.jpg)
        write_record(out.json, record)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SplitResult(record, False, plan, out)


def sweep_split_temps(event_dir: Path, session_id: str | None = None) -> list[Path]:
    """Remove the work dirs a killed split left in ``event_dir`` (one session's, or all).

    Only the split of a session makes its work dirs, one at a time per session, so a split
    may sweep its own session's before it starts; a sweep of all runs before any split does.
    """
    removed: list[Path] = []
    try:
        entries = list(event_dir.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or not entry.is_dir() or entry.is_symlink():
            continue
        if session_id is not None and m["session"] != session_id:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _record(
    plan: SessionPlan,
    program: Program,
    done: CutResult,
    mode: Mode,
    fingerprint: str,
    source_url: str | None,
    timeline: Timeline,
) -> vod.VodRecord:
    tz = program.event.tz
    info = done.info
    session = program.session(plan.session_id)
    first, last = plan.pieces[0], plan.pieces[-1]
    extra: dict[str, Any] = {
        "split_mode": mode,
        "split_fingerprint": fingerprint,
        "window_start": iso(plan.start, tz),
        "window_end": iso(plan.end, tz),
        # seconds by provenance (live, dvr, archive): how much of the VOD was healed
        "provenance": timeline.provenance(plan.start, plan.end),
    }
    if plan.reason:
        extra["reason"] = plan.reason
    return vod.VodRecord(
        id=vod.vod_id(program.event.id, session.id),
        event_id=program.event.id,
        session_id=session.id,
        broadcast_id=session.broadcast,
        title=session.title,
        speakers=list(session.speakers),
        track=session.track,
        language=session.language,
        day=program.session_day(session).isoformat(),  # conference day: 01:00 stays on its eve
        start=iso(first.start, tz),
        end=iso(last.end, tz),
        scheduled_start=iso(session.start, tz),
        scheduled_end=iso(session.end, tz),
        duration_s=round(info.duration_s, 3),
        size_bytes=done.size,
        sha256=done.sha256,
        gaps=[vod.GapInfo(**g.to_json(tz)) for g in plan.gaps],
        coverage=plan.coverage,
        status="complete" if plan.status == "complete" else "incomplete",
        source_url=source_url or timeline.meta.get("source_url"),
        width=info.width,
        height=info.height,
        video_codec=info.video_codec,
        audio_codec=info.audio_codec,
        **extra,
    )
