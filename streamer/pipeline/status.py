"""The JSON views of the pipeline's state, for ``status --json``, the admin API and the
program: plain functions of the store and the loaded schedules."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from streamer.capture.timeline import TIMELINE, Timeline
from streamer.detect.delay import describe, labels
from streamer.pipeline.audit import Action, AuditEntry, AuditLog
from streamer.pipeline.marks import predicted_windows
from streamer.pipeline.states import SESSION_PUBLISHED, SessionState
from streamer.pipeline.store import BroadcastView, SessionView, Store
from streamer.schedule.model import Program, title_text
from streamer.timeutil import iso, now
from streamer.vod.folder import Outputs, load_record
from streamer.youtube import ytdlp_environment


def broadcast_json(b: BroadcastView, tz: ZoneInfo | None = None) -> dict[str, Any]:
    return {
        "id": b.id,
        "event_id": b.event_id,
        "url": b.url,
        "start": iso(b.start, tz),
        "end": iso(b.end, tz),
        "state": b.state,
        "reason": b.reason,
        "live_at": iso(b.live_at) if b.live_at else None,
        "ended_at": iso(b.ended_at) if b.ended_at else None,
    }


def session_json(s: SessionView, program: Program | ZoneInfo | None) -> dict[str, Any]:
    tz = program.event.tz if isinstance(program, Program) else program
    sched = s.scheduled
    return {
        "id": s.id,
        "event_id": s.event_id,
        "broadcast_id": s.broadcast_id,
        "title": sched.title,
        "title_text": title_text(sched.title),
        "speakers": [sp.model_dump() for sp in sched.speakers],
        "track": sched.track,
        "language": sched.language,
        "record": sched.record,
        "start": iso(s.start, tz),
        "end": iso(s.end, tz),
        "day": s.start.astimezone(tz).date().isoformat() if tz else None,
        "state": s.state,
        "reason": s.reason,
        "attempts": s.attempts,
        "coverage": s.coverage,
        "vod_id": s.vod_id if s.state in SESSION_PUBLISHED else None,
        "vod_version": s.vod_version,
        "published_at": iso(s.published_at) if s.published_at else None,
    }


def status_of(
    store: Store,
    programs: dict[str, Program] | None = None,
    errors: list[str] | None = None,
    vods_dir: Path | None = None,
) -> dict[str, Any]:
    """Everything ``status --json`` and ``GET /api/v1/admin/status`` show; with ``vods_dir``
    each session also says which cut its VOD uses (``cut_source``, ``confidence``,
    ``needs_review``), the sessions needing review first."""
    zones: dict[str, Program | ZoneInfo] = {
        e["id"]: ZoneInfo(e["timezone"]) for e in store.events()
    }
    zones.update(programs or {})
    recs = {(r.event_id, r.broadcast_id): r for r in store.recordings()}
    broadcasts = []
    for b in store.broadcasts():
        zone = zones.get(b.event_id)
        row = broadcast_json(b, zone.event.tz if isinstance(zone, Program) else zone)
        rec = recs.get((b.event_id, b.id))
        row["recording"] = (
            {
                "dir": rec.dir,
                "segments": rec.segments,
                "bytes": rec.bytes,
                "gaps": rec.gaps,
                **timeline_figures(Path(rec.dir)),
                "state": rec.state,
                "reason": rec.reason,
                "updated_at": iso(rec.updated_at),
            }
            if rec
            else None
        )
        broadcasts.append(row)
    sessions = [session_json(s, zones.get(s.event_id)) for s in store.sessions()]
    add_running_delay(store, sessions, zones)
    if vods_dir is not None:
        add_cut_info(store, sessions, vods_dir)
        sessions.sort(key=lambda r: not r["needs_review"])  # stable: schedule order kept
    counts: dict[str, int] = {}
    for s in sessions:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    return {
        "generated_at": iso(now()),
        "events": store.events(),
        "counts": counts,
        "broadcasts": broadcasts,
        "sessions": sessions,
        "schedule_errors": errors or [],
        "log": store.log(20),
        # the most common cause of a failed YouTube recording is an old yt-dlp
        "ytdlp": ytdlp_environment(),
    }


def timeline_figures(directory: Path) -> dict[str, Any]:
    """Segments, bytes and gaps as the recording folder holds them: a restart resets the
    capture's own counters, not the recording. Empty when there is no timeline yet."""
    try:
        st = (directory / TIMELINE).stat()
    except OSError:
        return {}
    return dict(_figures(str(directory), st.st_size, st.st_mtime_ns))


@functools.lru_cache(maxsize=256)
def _figures(directory: str, size: int, mtime_ns: int) -> tuple[tuple[str, Any], ...]:
    # keyed by the timeline file's size and mtime: status is polled, the timeline appended
    tl = Timeline.load(Path(directory))
    gaps = tl.gaps()
    return (
        ("segments", len(tl.segments)),
        ("bytes", sum(seg.bytes for seg in tl.segments)),
        ("gaps", len(gaps)),
        ("gap_s", round(sum(g.duration_s for g in gaps), 3)),
    )


def add_running_delay(
    store: Store, sessions: list[dict[str, Any]], zones: dict[str, Program | ZoneInfo]
) -> None:
    """Each session's predicted window from the known starts (marks, corrections, accepted
    cuts): ``predicted_start``, ``predicted_end``, ``delay_s``, ``delay_text`` (English) and
    ``delay_label`` (``{"en", "ko"}``)."""
    rows = {(r["event_id"], r["id"]): r for r in sessions}
    for event_id in {r["event_id"] for r in sessions}:
        zone = zones.get(event_id)
        tz = zone.event.tz if isinstance(zone, Program) else zone or ZoneInfo("UTC")
        for sid, p in predicted_windows(store, event_id).items():
            row = rows.get((event_id, sid))
            if row is None:
                continue
            row["predicted_start"] = iso(p.start, tz)
            row["predicted_end"] = iso(p.end, tz)
            row["delay_s"] = round(p.delay_s, 1)
            row["delay_text"] = describe(p.delay_s)
            row["delay_label"] = labels(p.delay_s)


def add_cut_info(store: Store, sessions: list[dict[str, Any]], vods_dir: Path) -> None:
    """Each session's cut as its VOD record says: ``cut_source`` (``schedule``, ``suggested``,
    ``mark``, ``correction``, or ``accepted`` when a person accepted it at the desk or the
    API), ``confidence`` (the suggestion's), ``cut_reason`` and ``needs_review`` (a held cut,
    or a cut the policy flagged)."""
    audit = AuditLog(store)
    last: dict[tuple[str, str], AuditEntry] = {}
    for event_id in {r["event_id"] for r in sessions}:
        for e in audit.history(event_id):
            if e.action is not Action.REFUSED:
                last[(event_id, e.session_id)] = e
    for row in sessions:
        record = load_record(Outputs.of(vods_dir, row["event_id"], row["id"]).json)
        cut = record.cut if record is not None else None
        source: str | None = cut.source if cut is not None else None
        latest = last.get((row["event_id"], row["id"]))
        if (
            cut is not None
            and latest is not None
            and (latest.action is Action.ACCEPT or latest.detail == "accepted")
        ):
            source = "accepted"
        row["cut_source"] = source
        row["confidence"] = cut.confidence if cut is not None else None
        row["cut_reason"] = cut.reason if cut is not None else None
        held = row.get("state") == SessionState.HELD
        row["needs_review"] = held or bool(record is not None and record.needs_review)
