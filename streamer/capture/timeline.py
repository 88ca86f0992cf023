"""The on-disk timeline of a recording, shared by capture (writer), split and inspect (readers).

A recording directory holds::

    recording.json        {"source_url", "created_at", ...}  (metadata, rewritten atomically)
    timeline.jsonl        one JSON row per event, appended and fsynced
    part-001/00001234.ts  one file per segment, named by media sequence

Rows of ``timeline.jsonl``::

    {"t": "seg", "part": 1, "seq": 1234, "start": ISO, "dur": 1.0, "bytes": 5678,
     "file": "part-001/00001234.ts", "pdt": true, "src": "dvr"}   (src: live when absent)
    {"t": "part", "part": 2, "reason": "sequence reset", "at": ISO}
    {"t": "gap", "start": ISO, "end": ISO, "reason": "segments 10-14 left the window"}
                                       (a later gap row over the same time gives the newer reason)
    {"t": "end", "state": "ended|stalled|stopped|failed", "reason": "...", "at": ISO}
    {"t": "start", "at": ISO}          (recording started or resumed)

Provenance: ``live`` segments came from the live playlist, ``dvr`` and ``archive`` ones were
healed afterwards from the source (capture/heal.py). The timeline only grows.

A crash can leave a torn last line; the reader skips it. A segment row is written only after
its file was renamed into place, so every row points at a complete file.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamer.files import atomic_write
from streamer.timeutil import iso, now, parse_iso

TIMELINE = "timeline.jsonl"
META = "recording.json"
# Holes shorter than this between consecutive segments are jitter, not gaps.
GAP_TOLERANCE_S = 0.5
PROVENANCES = ("live", "dvr", "archive")


@dataclass(frozen=True)
class Segment:
    part: int
    seq: int
    start: datetime
    duration: float
    bytes: int
    file: str
    pdt: bool = True
    src: str = "live"

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime
    reason: str = ""

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def to_json(self, tz: Any = None) -> dict[str, Any]:
        return {
            "start": iso(self.start, tz),
            "end": iso(self.end, tz),
            "duration_s": round(self.duration_s, 3),
            "reason": self.reason,
        }


@dataclass
class Run:
    """Segments of one part with consecutive sequence numbers: one continuous piece of media."""

    part: int
    segments: list[Segment] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return self.segments[0].start

    @property
    def end(self) -> datetime:
        return self.segments[-1].end

    @property
    def duration_s(self) -> float:
        return sum(s.duration for s in self.segments)


@dataclass(frozen=True)
class Piece:
    """The media for ``[start, end)`` inside one run.

    ``files`` are the segment files to concatenate (in order); ``offset_in``/``offset_out``
    are seconds from the start of that concatenation.
    """

    part: int
    files: list[Path]
    offset_in: float
    offset_out: float
    start: datetime
    end: datetime

    @property
    def duration_s(self) -> float:
        return self.offset_out - self.offset_in


@dataclass
class Part:
    index: int
    segments: list[Segment]
    reason: str = ""

    @property
    def start(self) -> datetime:
        return self.segments[0].start

    @property
    def end(self) -> datetime:
        return self.segments[-1].end

    @property
    def duration_s(self) -> float:
        return sum(s.duration for s in self.segments)


@dataclass
class Timeline:
    directory: Path
    segments: list[Segment]
    explicit_gaps: list[Gap]
    part_reasons: dict[int, str]
    end_state: str | None = None
    end_reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path, *, files: bool = True) -> Timeline:
        """Read a recording directory; a missing timeline gives an empty one. A segment whose
        file is absent is left out, unless ``files`` is False (a copy of the rows alone, as
        the distributed planner keeps of a worker's recording)."""
        directory = Path(directory)
        segments: dict[tuple[int, int], Segment] = {}
        gaps: list[Gap] = []
        reasons: dict[int, str] = {}
        end_state = end_reason = None
        for row in _rows(directory / TIMELINE):
            kind = row.get("t")
            if kind == "seg":
                seg = Segment(
                    part=int(row["part"]),
                    seq=int(row["seq"]),
                    start=parse_iso(row["start"]),
                    duration=float(row["dur"]),
                    bytes=int(row["bytes"]),
                    file=str(row["file"]),
                    pdt=bool(row.get("pdt", True)),
                    src=str(row.get("src", "live")),
                )
                if not files or (directory / seg.file).exists():
                    segments[(seg.part, seg.seq)] = seg
            elif kind == "gap":
                gaps.append(
                    Gap(parse_iso(row["start"]), parse_iso(row["end"]), row.get("reason", ""))
                )
            elif kind == "part":
                reasons[int(row["part"])] = str(row.get("reason", ""))
            elif kind == "end":
                end_state, end_reason = row.get("state"), row.get("reason")
            elif kind == "start":  # a resumed recording is open again
                end_state = end_reason = None
        meta: dict[str, Any] = {}
        if (directory / META).exists():
            try:
                meta = json.loads((directory / META).read_text("utf-8"))
            except (OSError, ValueError):
                meta = {}
        ordered = sorted(segments.values(), key=lambda s: (s.start, s.part, s.seq))
        return cls(directory, ordered, gaps, reasons, end_state, end_reason, meta)

    # ---- structure -------------------------------------------------------------------

    def parts(self) -> list[Part]:
        by_part: dict[int, list[Segment]] = {}
        for seg in self.segments:
            by_part.setdefault(seg.part, []).append(seg)
        return [
            Part(i, sorted(segs, key=lambda s: s.seq), self.part_reasons.get(i, ""))
            for i, segs in sorted(by_part.items())
        ]

    def runs(self) -> list[Run]:
        """Continuous pieces: a new run at every new part, sequence jump or time jump."""
        runs: list[Run] = []
        for part in self.parts():
            current: Run | None = None
            for seg in part.segments:
                prev = current.segments[-1] if current is not None else None
                jump = prev is not None and (
                    seg.seq != prev.seq + 1
                    # a hole (or an overlap) in time despite consecutive numbers
                    or abs((seg.start - prev.end).total_seconds()) > GAP_TOLERANCE_S
                )
                if current is None or jump:
                    current = Run(part.index)
                    runs.append(current)
                current.segments.append(seg)
        return sorted(runs, key=lambda r: r.start)

    def gaps(self) -> list[Gap]:
        """Holes in coverage between the first and last segment (merged with explicit gaps)."""
        holes: list[Gap] = []
        covered_until: datetime | None = None
        for seg in self.segments:
            if covered_until is not None:
                hole = (seg.start - covered_until).total_seconds()
                if hole > GAP_TOLERANCE_S:
                    holes.append(Gap(covered_until, seg.start, "no segments"))
            covered_until = seg.end if covered_until is None else max(covered_until, seg.end)
        if self.segments:
            first, last = self.start, self.end
            assert first is not None and last is not None
            for gap in self.explicit_gaps:
                if gap.end <= first or gap.start >= last or gap.duration_s <= GAP_TOLERANCE_S:
                    continue
                if not any(h.start <= gap.start and gap.end <= h.end for h in holes):
                    covered = any(s.start < gap.end and s.end > gap.start for s in self.segments)
                    if not covered:
                        holes.append(gap)
        return sorted((self._explained(h) for h in holes), key=lambda g: g.start)

    def _explained(self, hole: Gap) -> Gap:
        """The hole with the newest reason written for time inside it (heal writes last)."""
        reason = hole.reason
        for row in self.explicit_gaps:
            if row.reason and row.start < hole.end and row.end > hole.start:
                reason = row.reason
        return Gap(hole.start, hole.end, reason)

    def provenance(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, float]:
        """Seconds of media by where they came from (inside ``[start, end)`` if given)."""
        out = dict.fromkeys(PROVENANCES, 0.0)
        for seg in self.segments:
            a = seg.start if start is None else max(seg.start, start)
            b = seg.end if end is None else min(seg.end, end)
            out[seg.src if seg.src in out else "live"] += max(0.0, (b - a).total_seconds())
        return {k: round(v, 3) for k, v in out.items()}

    @property
    def start(self) -> datetime | None:
        return self.segments[0].start if self.segments else None

    @property
    def end(self) -> datetime | None:
        return max(s.end for s in self.segments) if self.segments else None

    def covered_s(self, start: datetime | None = None, end: datetime | None = None) -> float:
        """Seconds of media inside ``[start, end)`` (the whole recording by default)."""
        total = 0.0
        for seg in self.segments:
            a = seg.start if start is None else max(seg.start, start)
            b = seg.end if end is None else min(seg.end, end)
            total += max(0.0, (b - a).total_seconds())
        return total

    def gaps_within(self, start: datetime, end: datetime) -> list[Gap]:
        """Gaps inside ``[start, end)``, including uncovered time at either edge."""
        out: list[Gap] = []
        cursor = start
        for run in self.runs():
            if run.end <= start or run.start >= end:
                continue
            if (run.start - cursor).total_seconds() > GAP_TOLERANCE_S:
                out.append(Gap(cursor, min(run.start, end), "no segments"))
            cursor = max(cursor, run.end)
        if (end - cursor).total_seconds() > GAP_TOLERANCE_S:
            out.append(Gap(cursor, end, "no segments"))
        return out

    def pieces(self, start: datetime, end: datetime) -> list[Piece]:
        """Map a wall-clock window onto runs: the files and offsets that cover it."""
        out: list[Piece] = []
        for run in self.runs():
            if run.end <= start or run.start >= end:
                continue
            files: list[Path] = []
            offset = 0.0
            offset_in: float | None = None
            offset_out = 0.0
            piece_start = piece_end = None
            for seg in run.segments:
                if seg.end <= start or seg.start >= end:
                    continue
                if offset_in is None:
                    offset_in = max(0.0, (start - seg.start).total_seconds())
                    piece_start = max(seg.start, start)
                files.append(self.directory / seg.file)
                offset_out = offset + min(seg.duration, (end - seg.start).total_seconds())
                piece_end = min(seg.end, end)
                offset += seg.duration
            if offset_in is not None and piece_start is not None and piece_end is not None:
                out.append(Piece(run.part, files, offset_in, offset_out, piece_start, piece_end))
        return out

    def to_json(self, tz: Any = None) -> dict[str, Any]:
        """The ``inspect --json`` contract (DESIGN §4)."""
        start, end = self.start, self.end
        return {
            "parts": [
                {
                    "index": p.index,
                    "start": iso(p.start, tz),
                    "end": iso(p.end, tz),
                    "duration_s": round(p.duration_s, 3),
                    "segments": len(p.segments),
                    "reason": p.reason,
                }
                for p in self.parts()
            ],
            "gaps": [g.to_json(tz) for g in self.gaps()],
            "start": iso(start, tz) if start else None,
            "end": iso(end, tz) if end else None,
            "covered_s": round(self.covered_s(), 3),
            "provenance": self.provenance(),
            "state": self.end_state,
            "reason": self.end_reason,
            "source_url": self.meta.get("source_url"),
        }


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a torn last line after a crash
        if isinstance(row, dict):
            yield row


class TimelineWriter:
    """Appends rows durably and writes segment files atomically.

    Durability policy: a segment file is written to a temporary name, ``fdatasync``-ed and
    renamed into place *before* its row is appended, so the timeline never names a file that
    a power cut could lose. Rows reach the file (the page cache, so every reader sees them)
    at once. With ``sync_interval_s`` > 0, segment rows are ``fdatasync``-ed at most that
    often (and always with the next part, gap, start or end row, and on close) instead of
    one sync per row: a power cut (a process crash loses nothing written) can then drop at
    most the rows of the last interval, whose segments are fetched again from the source's
    window on restart, as long as the window is longer than the interval."""

    def __init__(
        self,
        directory: Path,
        *,
        sync_interval_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.sync_interval_s = sync_interval_s
        self.clock = clock
        self._synced_at = clock()
        self._unsynced = False
        self._tmp_names = itertools.count()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / TIMELINE
        torn = path.exists() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115
        if torn:  # a crash cut the last row: end it, so the next row is a line of its own
            self._fh.write("\n")
            self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed and self._unsynced:
            self._sync()
        self._fh.close()

    def __enter__(self) -> TimelineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _append(self, row: dict[str, Any], *, lazy: bool = False) -> None:
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        if lazy and self.clock() - self._synced_at < self.sync_interval_s:
            self._unsynced = True
            return
        self._sync()

    def _sync(self) -> None:
        os.fdatasync(self._fh.fileno())  # appends change the size: fdatasync writes it too
        self._synced_at = self.clock()
        self._unsynced = False

    def _write_file(self, rel: str, data: bytes) -> None:
        """``data`` into ``rel`` atomically and durably (temp file, fdatasync, rename)."""
        path = self.directory / rel
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(self._tmp_names)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fdatasync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write(self.directory / META, json.dumps(meta, indent=2).encode())

    def write_segment(
        self,
        part: int,
        seq: int,
        data: bytes,
        start: datetime,
        duration: float,
        pdt: bool,
        src: str = "live",
    ) -> Segment:
        rel = f"part-{part:03d}/{seq:010d}.ts"
        self._write_file(rel, data)
        seg = Segment(part, seq, start, duration, len(data), rel, pdt, src)
        row: dict[str, Any] = {
            "t": "seg",
            "part": part,
            "seq": seq,
            "start": iso(start),
            "dur": duration,
            "bytes": len(data),
            "file": rel,
            "pdt": pdt,
        }
        if src != "live":
            row["src"] = src
        self._append(row, lazy=True)
        return seg

    def new_part(self, part: int, reason: str) -> None:
        self._append({"t": "part", "part": part, "reason": reason, "at": iso(now())})

    def gap(self, start: datetime, end: datetime, reason: str) -> None:
        self._append({"t": "gap", "start": iso(start), "end": iso(end), "reason": reason})

    def start(self) -> None:
        self._append({"t": "start", "at": iso(now())})

    def end(self, state: str, reason: str) -> None:
        self._append({"t": "end", "state": state, "reason": reason, "at": iso(now())})


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)
