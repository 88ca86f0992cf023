"""Findings in a schedule, printed as ``file:line: message``, and the folding of many alike."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamer.schedule.model import Program

EXAMPLES = 3
"""A warning that applies to more items than this is printed for this many, then counted."""


@dataclass(frozen=True)
class Problem:
    """One finding. ``line`` is 1-based; 0 when there is no line (then ``file: message``).

    ``group`` names warnings of one kind (e.g. "no-url"): ``fold`` prints a few and a count.
    ``summary`` is how the folded rest is described, e.g. "talks without an absolute date".
    """

    source: str
    line: int
    message: str
    warning: bool = False
    group: str | None = None
    summary: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line > 0 else self.source
        kind = "warning: " if self.warning else ""
        return f"{where}: {kind}{self.message}"


def fold(problems: Iterable[Problem], examples: int = EXAMPLES) -> list[str]:
    """The problems as lines, a group of more than ``examples`` warnings shown by its first
    ``examples`` and one line with the count of the rest."""
    out: list[str] = []
    counts: dict[tuple[str, str], int] = {}
    items = list(problems)
    for p in items:
        if p.warning and p.group:
            key = (p.source, p.group)
            counts[key] = counts.get(key, 0) + 1
    shown: dict[tuple[str, str], int] = {}
    for p in items:
        if not (p.warning and p.group):
            out.append(str(p))
            continue
        key = (p.source, p.group)
        seen = shown.get(key, 0)
        shown[key] = seen + 1
        if seen < examples:
            out.append(str(p))
        elif seen == examples:
            rest = counts[key] - examples
            what = p.summary or p.group
            out.append(f"{p.source}: warning: and {rest} more {what} ({counts[key]} in all)")
    return out


@dataclass
class Report:
    """What checking one or more files found."""

    programs: list[Program] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [str(p) for p in self._sorted() if not p.warning]

    @property
    def warnings(self) -> list[str]:
        """Every warning, one line each (``folded`` prints many alike once)."""
        return [str(p) for p in self._sorted() if p.warning]

    @property
    def all(self) -> list[str]:
        """Errors and warnings together, sorted by file and line."""
        return [str(p) for p in self._sorted()]

    def folded(self, *, errors: bool = True) -> list[str]:
        """Sorted lines with a warning repeated over many items printed once with a count."""
        return fold(p for p in self._sorted() if errors or p.warning)

    def _sorted(self) -> list[Problem]:
        # stable: problems on one line keep the order they were found in
        return sorted(self.problems, key=lambda p: (p.source, p.line))
