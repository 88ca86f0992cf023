"""What the review desk shows of a session: the cut in force, the audit trail, and a short
low-resolution preview of the recording around a moment (made once with ffmpeg, cached)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamer import procs
from streamer.capture.timeline import Timeline
from streamer.detect import Edge
from streamer.errors import InvalidRequest, NotFoundError
from streamer.pipeline.audit import AuditLog
from streamer.pipeline.marks import MarkStore, revision
from streamer.pipeline.store import Store
from streamer.schedule.model import Program
from streamer.timeutil import iso

PREVIEW_S = 120.0  # each side of the moment
STRIP_EVERY_S = 10.0  # one frame of the strip per 10 s
HEIGHT = 180


def review_of(store: Store, program: Program, session_id: str) -> dict[str, Any]:
    """The session's scheduled window, the cut in force (correction, else mark, else schedule),
    and every mark and correction made (who, when, from where)."""
    s = store.find_session(session_id)
    tz = program.event.tz
    marks = MarkStore(store)
    latest = marks.latest(s.event_id, s.id)
    fixed = store.correction(s.event_id, s.id) or (None, None)
    start = fixed[0] or (latest[Edge.START].at if Edge.START in latest else s.start)
    end = fixed[1] or (latest[Edge.END].at if Edge.END in latest else s.end)
    return {
        "id": s.id,
        "event_id": s.event_id,
        "broadcast_id": s.broadcast_id,
        "state": s.state,
        "revision": revision(store, s.event_id, s.id),
        "scheduled_start": iso(s.start, tz),
        "scheduled_end": iso(s.end, tz),
        "cut_start": iso(start, tz),
        "cut_end": iso(end, tz),
        "marks": [m.to_json() for m in marks.history(s.event_id, s.id)],
        "corrections": store.corrections(s.event_id, s.id),
        # corrections, resets, accepts and refused requests, with who and from where
        "audit": [e.to_json() for e in AuditLog(store).history(s.event_id, s.id)],
    }


@dataclass(frozen=True)
class Preview:
    video: Path
    strip: Path
    start: datetime
    end: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "video": self.video.name,
            "strip": self.strip.name,
            "start": iso(self.start),
            "end": iso(self.end),
            "strip_every_s": STRIP_EVERY_S,
        }


def make_preview(
    store: Store, session_id: str, at: datetime, cache: Path, *, timeout_s: float = 300.0
) -> Preview:
    """±PREVIEW_S of the recording around ``at`` (whole seconds), as a small MP4 and a strip of
    frames. Refuses a moment the recording does not cover."""
    s = store.find_session(session_id)
    rec = store.recording(s.event_id, s.broadcast_id)
    if rec is None or not Path(rec.dir).exists():
        raise NotFoundError(f"broadcast {s.broadcast_id!r} of {s.key} was never recorded")
    at = at.replace(microsecond=0)
    timeline = Timeline.load(Path(rec.dir))
    pieces = timeline.pieces(at - timedelta(seconds=PREVIEW_S), at + timedelta(seconds=PREVIEW_S))
    pieces = [p for p in pieces if p.files and p.start <= at <= p.end] or pieces
    if not pieces:
        raise InvalidRequest(f"the recording has nothing around {iso(at)}")
    piece = max(pieces, key=lambda p: p.duration_s)
    name = f"{s.event_id}-{s.id}-{int(at.timestamp())}"
    video, strip = cache / f"{name}.mp4", cache / f"{name}.jpg"
    if not (video.exists() and strip.exists()):
        cache.mkdir(parents=True, exist_ok=True)
        _render(piece.files, piece.offset_in, piece.duration_s, video, strip, timeout_s)
    return Preview(video, strip, piece.start, piece.end)


def _render(
    files: list[Path], offset: float, seconds: float, video: Path, strip: Path, timeout_s: float
) -> None:
    """One ffmpeg run, two outputs; written aside and renamed, so a reader never sees half."""
    with tempfile.TemporaryDirectory(prefix="preview-", dir=video.parent) as tmp:
        work = Path(tmp)
        listing = work / "files.txt"
        listing.write_text("".join(f"{f.resolve()}\n" for f in files))
        tiles = max(1, int(seconds // STRIP_EVERY_S))
        out_v, out_s = work / video.name, work / strip.name
        window = ["-ss", f"{offset:.3f}", "-t", f"{seconds:.3f}"]
        procs.run(
            [
                procs.ffmpeg(), "-nostdin", "-hide_banner", "-v", "error",
                "-i", f"concatf:{listing}",
                *window, "-map", "0:v:0", "-map", "0:a:0?", "-vf", f"scale=-2:{HEIGHT}",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", str(out_v),
                *window, "-map", "0:v:0",
                "-vf", f"fps=1/{STRIP_EVERY_S:g},scale=-2:72,tile={tiles}x1",
                "-frames:v", "1", "-q:v", "5", str(out_s),
            ],
            timeout=timeout_s,
        )  # fmt: skip
        os.replace(out_s, strip)
        os.replace(out_v, video)
