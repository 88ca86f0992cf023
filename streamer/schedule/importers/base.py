"""What every reader produces (talks with absolute times, and located problems), and the small
readings they share: durations, flags, texts that must not be dicts, language codes."""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streamer.schedule.model import Title, language_tag, title_text
from streamer.schedule.problems import Problem
from streamer.schedule.values import UNDETERMINED, kind

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


@dataclass
class Talk:
    """One talk as a reader found it; ``start``/``end`` are instants."""

    key: str  # slug or guid, before sanitising
    start: datetime
    end: datetime
    title: Title
    room: str
    day: int  # 1-based conference day; 0: not known, numbered by date later
    line: int  # in the source; 0 when not known
    label: str  # for messages: "talk 'x'"
    day_date: date | None = None  # the conference day's date, when the source gives it
    subtitle: str | None = None
    speakers: list[dict[str, str]] = field(default_factory=list)
    track: str | None = None
    language: str | None = None
    record: bool = True
    description: str | None = None
    url: str | None = None


@dataclass
class Found:
    """What a reader found: conference facts, talks, and problems at their lines."""

    source: str
    title: str | None = None
    acronym: str | None = None
    zone: str | None = None  # the source's zone name, as written
    talks: list[Talk] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    strict: bool = False  # skipped talks are errors

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.source, line, message))

    def warn(
        self, line: int, message: str, group: str | None = None, summary: str | None = None
    ) -> None:
        self.problems.append(Problem(self.source, line, message, True, group, summary))

    def skip(self, line: int, message: str) -> None:
        """A talk left out: a warning, or an error under ``--strict``."""
        if self.strict:
            self.error(line, f"{message} (--strict)")
        else:
            self.warn(line, f"{message}; the talk is skipped (--strict refuses the file)")

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]


class Lines:
    """Line numbers of offsets in a text, and of tokens found in order (JSON has no lines)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.cursor = 0

    def at(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def find(self, *tokens: str) -> int:
        """The line of the first of ``tokens`` found after the last one found; 0 if none is."""
        for token in tokens:
            if not token:
                continue
            pos = self.text.find(token, self.cursor)
            if pos >= 0:
                self.cursor = pos + len(token)
                return self.at(pos)
        return 0

    def key(self, name: str) -> int:
        """The line of the first ``"name":`` key (for a structural error)."""
        match = re.search(rf'"{re.escape(name)}"\s*:', self.text)
        return self.at(match.start()) if match else 1


def parse_duration(text: str) -> timedelta:
    """``HH:MM`` or ``HH:MM:SS`` (frab/pretalx), ``D:HH:MM`` not used; plain minutes (``45``)."""
    value = text.strip()
    if re.fullmatch(r"\d+", value):
        return timedelta(minutes=int(value))
    parts = value.split(":")
    if len(parts) in (2, 3) and all(p.isdigit() for p in parts):
        h, m, *rest = (int(p) for p in parts)
        return timedelta(hours=h, minutes=m, seconds=rest[0] if rest else 0)
    raise ValueError(f"duration {text!r} is not HH:MM")


def after(start: datetime, duration: timedelta) -> datetime:
    """``start`` plus ``duration`` of elapsed time: across a daylight-saving change a 2 h talk
    lasts 2 h (wall-clock arithmetic would make it 1 h or 3 h)."""
    return (start.astimezone(UTC) + duration).astimezone(start.tzinfo)


def flag(value: Any, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE or not text:
        return False if text else default
    raise ValueError(f"{value!r} is not true or false")


def text_of(value: Any, what: str, lang: str | None = None) -> str | None:
    """Free text; a ``{language: text}`` mapping gives the text in ``lang`` (else English, else
    the first); anything else (a list, a nested mapping) is a ValueError, never its repr."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str | int | float):
        return str(value).strip() or None
    if isinstance(value, Mapping):
        title = title_of(value, what)
        return title_text(title, lang) if title else None
    raise ValueError(f"{what} must be text or a {{language: text}} mapping, got {kind(value)}")


def title_of(value: Any, what: str, lang: str | None = None) -> Title | None:
    """A title: text (keyed by ``lang``) or a ``{language: text}`` mapping; ValueError else."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value).strip()
        return {lang or UNDETERMINED: text} if text else None
    if isinstance(value, Mapping):
        out: Title = {}
        for code, text in value.items():
            tag = language_tag(str(code))
            if tag is None or not isinstance(text, str):
                raise ValueError(
                    f"{what} must be text or a {{language: text}} mapping, got a mapping with"
                    f" {code!r}: {kind(text)}"
                )
            if text.strip():
                out[tag] = text.strip()
        return out or None
    if value is None:
        return None
    raise ValueError(f"{what} must be text or a {{language: text}} mapping, got {kind(value)}")


def language(value: Any, found: Found, line: int, label: str) -> str | None:
    """A language code in BCP 47 case (``ko-KR``); a name like ``Korean`` is left out."""
    if not value:
        return None
    tag = language_tag(str(value)) if isinstance(value, str) else None
    if tag is None:
        found.warn(
            line,
            f"{label}: language {value!r} is not a language code; left out",
            "language",
            "talks whose language is not a code",
        )
    return tag
