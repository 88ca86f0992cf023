"""The recording's records: segments, gaps, runs, pieces and parts, and the folder's file names.

The format they are read from and written to is described in :mod:`streamer.capture.timeline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamer.timeutil import iso

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


class _Span:
    """What a run of segments in time order spans."""

    segments: list[Segment]

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
class Run(_Span):
    """Segments of one part with consecutive sequence numbers: one continuous piece of media."""

    part: int
    segments: list[Segment] = field(default_factory=list)


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
class Part(_Span):
    index: int
    segments: list[Segment]
    reason: str = ""
