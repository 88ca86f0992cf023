"""The on-disk timeline of a recording: :class:`Timeline` reads it and answers where media is.

Shared by capture (the writer, :mod:`~streamer.capture.timeline_writer`), split and inspect.

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

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from streamer.capture.timeline_model import (
    GAP_TOLERANCE_S,
    META,
    PROVENANCES,
    TIMELINE,
    Gap,
    Part,
    Piece,
    Run,
    Segment,
)
from streamer.capture.timeline_rows import Listing, read_rows
from streamer.capture.timeline_writer import TimelineWriter
from streamer.timeutil import iso

# The recording's public model, importable from here (defined in timeline_model/_writer).
__all__ = [
    "GAP_TOLERANCE_S",
    "META",
    "PROVENANCES",
    "TIMELINE",
    "Gap",
    "Part",
    "Piece",
    "Run",
    "Segment",
    "Timeline",
    "TimelineWriter",
]


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
        present = Listing(directory)
        for row in read_rows(directory / TIMELINE):
            kind = row[0]
            if kind == "seg":
                seg = row[1]
                if not files or present.has(seg.file):
                    segments[(seg.part, seg.seq)] = seg
            elif kind == "gap":
                gaps.append(row[1])
            elif kind == "part":
                reasons[row[1]] = row[2]
            elif kind == "end":
                end_state, end_reason = row[1], row[2]
            elif kind == "start":
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
