"""What a heal pass did and what stays missing, with why, in words for people."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streamer.capture.fragments import FragmentGone
from streamer.capture.holes import TOL_S, Span
from streamer.timeutil import iso


@dataclass
class HealReport:
    healed_s: float = 0.0
    segments: int = 0
    by_source: dict[str, float] = field(default_factory=lambda: {"dvr": 0.0, "archive": 0.0})
    remaining: list[tuple[datetime, datetime, str]] = field(default_factory=list)
    status: str | None = None  # the source's live_status at the heal
    skipped: bool = False  # nothing to heal: the source was not asked

    @property
    def complete(self) -> bool:
        return not self.remaining


def fragment_reason(exc: BaseException, sq: int) -> str:
    """Why DVR fragment ``sq`` could not be had."""
    if isinstance(exc, FragmentGone):
        if exc.status == 404:
            return f"dvr: fragment {sq} is not held any more (HTTP 404)"
        return f"dvr: fragment {sq}: HTTP {exc.status}"
    return f"dvr: {exc}"


def merge_spans(spans: list[Span]) -> list[Span]:
    """Adjacent spans with the same kind of reason become one (first and last fragment named)."""
    out: list[Span] = []
    for start, end, reason in sorted(spans):
        if (
            out
            and abs((start - out[-1][1]).total_seconds()) <= TOL_S
            and _kind(reason) == _kind(out[-1][2])
        ):
            first = out[-1][2]
            out[-1] = (out[-1][0], end, _span_reason(first, reason))
        else:
            out.append((start, end, reason))
    return out


def _kind(reason: str) -> str:
    return re.sub(r"fragments? [\d-]+( is| are)?", "fragment", reason)


def _span_reason(first: str, last: str) -> str:
    a = re.search(r"fragments? (\d+)(?:-(\d+))?", first)
    b = re.search(r"fragments? (\d+)", last)
    if a is None or b is None:
        return first
    joined = first[: a.start()] + f"fragments {a.group(1)}-{b.group(1)}" + first[a.end() :]
    return joined.replace(" is not held", " are not held")


def describe(report: HealReport, tz: Any = UTC) -> list[str]:
    """Lines for people: what was healed and what stays missing, with why."""
    if report.skipped:
        return ["nothing to heal: no gaps"]
    lines = [
        f"healed {report.healed_s:.1f}s in {report.segments} segment(s) "
        f"(dvr {report.by_source.get('dvr', 0.0):.1f}s, "
        f"archive {report.by_source.get('archive', 0.0):.1f}s); source {report.status}"
    ]
    for start, end, reason in report.remaining:
        lines.append(
            f"missing {iso(start, tz)} .. {iso(end, tz)} "
            f"({(end - start).total_seconds():.1f}s): {reason}"
        )
    if not report.remaining:
        lines.append("nothing missing")
    return lines
