"""YAML → Program, with every problem reported as ``file:line: message``.

The YAML is read with ruamel's round-trip loader so each key keeps its line. Timestamps are
kept as text (a custom constructor) and parsed here, so a value without an offset is taken in
the event's zone rather than silently as UTC. All problems of a file are collected in one pass
and sorted by line; errors make the file invalid, warnings do not.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from streamer.errors import ScheduleError
from streamer.schedule.model import (
    ID_PATTERN,
    Broadcast,
    CutPolicy,
    Event,
    Program,
    Session,
    Speaker,
    Title,
)
from streamer.schedule.urls import normalise_url

log = logging.getLogger(__name__)

UNDETERMINED = "und"
"""Language key of a title written as a plain string with no session language to go by."""

_ID_RE = re.compile(ID_PATTERN)
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_DATE_ONLY_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_EXAMPLE_TIME = "e.g. 2021-04-27T09:30 or 2021-04-27T09:30+09:00"

TOP_KEYS = ("event", "broadcasts", "sessions")
EVENT_KEYS = ("id", "title", "timezone", "url", "description", "cut_policy")
EVENT_REQUIRED = ("id", "title", "timezone")
BROADCAST_KEYS = ("id", "url", "start", "end", "title")
BROADCAST_REQUIRED = ("id", "start", "end")
SESSION_KEYS = (
    "id",
    "broadcast",
    "start",
    "end",
    "title",
    "speakers",
    "track",
    "language",
    "record",
    "description",
)
SESSION_REQUIRED = ("id", "broadcast", "start", "end", "title")
SPEAKER_KEYS = ("name", "affiliation")


class _TextTimestamps(RoundTripConstructor):  # type: ignore[misc]
    """Round-trip constructor that leaves YAML timestamps as text (parsed with the zone later)."""


def _timestamp_as_text(constructor: RoundTripConstructor, node: Any) -> Any:
    return constructor.construct_scalar(node)


_TextTimestamps.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _TextTimestamps
    return yaml


@dataclass(frozen=True)
class Problem:
    """One finding in a schedule. ``line`` is 1-based; 0 when unknown (data not from YAML)."""

    source: str
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line > 0 else self.source
        kind = "warning: " if self.warning else ""
        return f"{where}: {kind}{self.message}"


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
        return [str(p) for p in self._sorted() if p.warning]

    @property
    def all(self) -> list[str]:
        """Errors and warnings together, sorted by file and line."""
        return [str(p) for p in self._sorted()]

    def _sorted(self) -> list[Problem]:
        # stable: problems on one line keep the order they were found in
        return sorted(self.problems, key=lambda p: (p.source, p.line))


# -- public API ---------------------------------------------------------------------------------


def check_program(path: Path) -> tuple[Program | None, list[str], list[str]]:
    """Check one file: (program or None when invalid, errors, warnings), ``file:line: message``."""
    report = Report()
    program = _check_file(path, report)
    return program, report.errors, report.warnings


def load_program(path: Path) -> Program:
    """Load one schedule file; ScheduleError with every problem when invalid."""
    program, errors, warnings = check_program(path)
    for warning in warnings:
        log.warning("%s", warning)
    if program is None:
        raise ScheduleError(f"{path}: invalid schedule ({len(errors)} problems)", errors)
    return program


def check_paths(paths: Iterable[Path]) -> Report:
    """Check files and directories (their ``*.yaml``/``*.yml``), and that event ids are unique."""
    report = Report()
    seen: dict[str, str] = {}
    for path in paths:
        files = _schedule_files(path, report)
        for file in files:
            program = _check_file(file, report)
            if program is None:
                continue
            first = seen.get(program.event.id)
            if first is not None:
                report.problems.append(
                    Problem(
                        str(file),
                        _event_id_line(file),
                        f"event id {program.event.id!r} is already used by {first}",
                    )
                )
                continue
            seen[program.event.id] = str(file)
            report.programs.append(program)
    return report


def load_dir(path: Path) -> list[Program]:
    """Every schedule in a directory (or the one file given); ScheduleError lists all problems."""
    report = check_paths([path])
    for warning in report.warnings:
        log.warning("%s", warning)
    if report.errors:
        raise ScheduleError(
            f"{path}: invalid schedules ({len(report.errors)} problems)", report.errors
        )
    return report.programs


def program_from_data(data: Mapping[str, Any], source: str = "<data>") -> Program:
    """Validate plain data (as YAML would load it) into a Program; ScheduleError when invalid."""
    report = Report()
    program = _Checker(source, report).program(data)
    if program is None:
        raise ScheduleError(f"{source}: invalid schedule", report.errors)
    return program


def _utc(moment: datetime) -> datetime:
    """For comparing: Python compares two datetimes that share one zone by their wall clocks,
    which is wrong across a daylight-saving change."""
    return moment.astimezone(UTC)


def parse_when(value: Any, tz: tzinfo) -> datetime:
    """A YAML/JSON time value as an aware datetime in ``tz``; ValueError says what is wrong."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        raise ValueError(f"{value.isoformat()} is a date without a time ({_EXAMPLE_TIME})")
    elif isinstance(value, str):
        text = value.strip()
        if _DATE_ONLY_RE.match(text):
            raise ValueError(f"{text!r} is a date without a time ({_EXAMPLE_TIME})")
        # YAML allows "2021-04-27 09:30:00 +09:00" and a lower-case t; fromisoformat does not
        norm = re.sub(r"^(\d{4}-\d{1,2}-\d{1,2})[Tt ]+", r"\1T", text)
        norm = re.sub(r"\s+(?=[Zz+-]\d*:?\d*$)", "", norm)
        norm = re.sub(r"[Zz]$", "+00:00", norm)
        try:
            moment = datetime.fromisoformat(norm)
        except ValueError:
            raise ValueError(f"not a date and time: {text!r} ({_EXAMPLE_TIME})") from None
    else:
        raise ValueError(f"expected a date and time ({_EXAMPLE_TIME}), got {_kind(value)}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(tz)


# -- files --------------------------------------------------------------------------------------


def _schedule_files(path: Path, report: Report) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.is_file():
        return [path]
    report.problems.append(Problem(str(path), 0, "no such file or directory"))
    return []


def _check_file(path: Path, report: Report) -> Program | None:
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        report.problems.append(Problem(source, 0, f"cannot read: {exc.strerror or exc}"))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        report.problems.append(Problem(source, line, "not UTF-8 text"))
        return None
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or exc.context or "invalid YAML"
        report.problems.append(Problem(source, line, f"YAML syntax error: {what}"))
        return None
    except YAMLError as exc:
        report.problems.append(Problem(source, 1, f"YAML error: {exc}"))
        return None
    program = _Checker(source, report).program(data)
    return program.model_copy(update={"source": source}) if program is not None else None


def _event_id_line(path: Path) -> int:
    try:
        data = _yaml().load(path.read_text(encoding="utf-8"))
        return _key_line(data["event"], "id")
    except (OSError, YAMLError, KeyError, TypeError):
        return 0


# -- lines --------------------------------------------------------------------------------------


def _node_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    line = getattr(lc, "line", None)
    return line + 1 if isinstance(line, int) else 0


def _key_line(mapping: Any, key: str) -> int:
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return _node_line(mapping)


def _item_line(seq: Any, index: int) -> int:
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return _node_line(seq)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text ({value!r})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def suggest(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known word, or an empty string."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# -- the checker --------------------------------------------------------------------------------


@dataclass
class _Item:
    """A validated broadcast or session with the lines of its keys, for cross-checks."""

    model: Any
    lines: dict[str, int]

    def line(self, key: str) -> int:
        return self.lines.get(key) or self.lines.get("", 0)


class _Checker:
    def __init__(self, source: str, report: Report) -> None:
        self.source = source
        self.report = report
        self.failed = False
        self.tz: ZoneInfo | None = None
        self.broken_broadcasts: set[str] = set()
        # (session id, broadcast id, line of `broadcast:`) of every session naming one, even a
        # session whose times are bad, so an unknown broadcast is still reported
        self.refs: list[tuple[str, str, int]] = []

    def error(self, line: int, message: str) -> None:
        self.failed = True
        self.report.problems.append(Problem(self.source, line, message))

    def warn(self, line: int, message: str) -> None:
        self.report.problems.append(Problem(self.source, line, message, warning=True))

    # -- structure --

    def keys(
        self,
        mapping: Mapping[str, Any],
        what: str,
        known: tuple[str, ...],
        required: tuple[str, ...],
        line: int,
    ) -> None:
        for key in mapping:
            if key not in known:
                hint = suggest(str(key), known) or f" (known keys: {', '.join(known)})"
                self.error(_key_line(mapping, key), f"unknown key {key!r} in {what}{hint}")
        for key in required:
            if key not in mapping:
                self.error(line, f"{what} is missing the required key {key!r}")

    def mapping(self, value: Any, what: str, line: int) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.error(line, f"{what} must be a mapping (key: value lines), got {_kind(value)}")
        return None

    def program(self, data: Any) -> Program | None:
        if data is None or (isinstance(data, str) and not data.strip()):
            self.error(1, "empty file: expected the keys event, broadcasts and sessions")
            return None
        root = self.mapping(data, "the top level", 1)
        if root is None:
            return None
        self.keys(root, "the top level", TOP_KEYS, TOP_KEYS, _node_line(root) or 1)
        event = None
        if "event" in root:
            event = self.event(root["event"], _key_line(root, "event"))
        self.tz = event.tz if event is not None else self.tz
        broadcasts = self.items(root, "broadcasts", self.broadcast)
        sessions = self.items(root, "sessions", self.session)
        self.cross_check(broadcasts, sessions)
        if self.failed or event is None:
            return None
        try:
            return Program(
                event=event,
                broadcasts=[b.model for b in broadcasts],
                sessions=[s.model for s in sessions],
            )
        except ValidationError as exc:  # a rule this checker missed: still say where
            self.error(1, f"invalid program: {exc}")
            return None

    def items(self, root: Mapping[str, Any], key: str, parse: Any) -> list[_Item]:
        if key not in root:
            return []
        seq = root[key]
        line = _key_line(root, key)
        if seq is None:
            return []
        if not isinstance(seq, list):
            self.error(line, f"{key} must be a list (lines starting with '- '), got {_kind(seq)}")
            return []
        out: list[_Item] = []
        for index, value in enumerate(seq):
            item = parse(value, _item_line(seq, index))
            if item is not None:
                out.append(item)
        return out

    # -- event --

    def event(self, value: Any, line: int) -> Event | None:
        m = self.mapping(value, "event", line)
        if m is None:
            return None
        self.keys(m, "event", EVENT_KEYS, EVENT_REQUIRED, line)
        event_id = self.ident(m, "event")
        title = self.title(m, "title", None)
        tz_name = self.timezone(m)
        url = self.text(m, "url", "event url")
        description = self.title(m, "description", None) if m.get("description") else None
        policy = m.get("cut_policy", CutPolicy.SCHEDULE.value)
        if policy not in {p.value for p in CutPolicy}:
            known = ", ".join(p.value for p in CutPolicy)
            self.error(_key_line(m, "cut_policy"), f"cut_policy must be one of {known}")
            return None
        if not (isinstance(event_id, str) and isinstance(title, dict) and tz_name):
            return None
        return Event(
            id=event_id,
            title=title,
            timezone=tz_name,
            url=url if isinstance(url, str) else None,
            description=description if isinstance(description, dict) else None,
            cut_policy=CutPolicy(policy),
        )

    def timezone(self, m: Mapping[str, Any]) -> str | None:
        if "timezone" not in m:
            return None
        line = _key_line(m, "timezone")
        name = m["timezone"]
        if not isinstance(name, str) or not name.strip():
            self.error(
                line, f"timezone must be an IANA zone name like Asia/Seoul, got {_kind(name)}"
            )
            return None
        name = name.strip()
        try:
            self.tz = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            hint = suggest(name, _zones())
            self.error(line, f"unknown timezone {name!r} (use an IANA name like Asia/Seoul{hint})")
            return None
        return name

    # -- broadcasts --

    def broadcast(self, value: Any, line: int) -> _Item | None:
        m = self.mapping(value, "a broadcast", line)
        if m is None:
            return None
        bid = self.ident(m, "broadcast")
        what = f"broadcast {bid!r}" if bid else "broadcast"
        self.keys(m, what, BROADCAST_KEYS, BROADCAST_REQUIRED, line)
        url = self.url(m, what, line)
        start, end = self.window(m, what)
        title = self.title(m, "title", None) if m.get("title") is not None else None
        if not (isinstance(start, datetime) and isinstance(end, datetime)) or not bid:
            if bid:  # already reported; sessions naming it should not add "unknown broadcast"
                self.broken_broadcasts.add(bid)
            return None
        # a bad url or title is already reported; keep the item so its sessions are checked
        model = Broadcast(
            id=bid,
            url=url if isinstance(url, str) else None,
            start=start,
            end=end,
            title=title if isinstance(title, dict) else None,
        )
        return _Item(model, self.lines(m, line))

    def url(self, m: Mapping[str, Any], what: str, line: int) -> str | bool | None:
        raw = m.get("url")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            self.warn(
                _key_line(m, "url") if "url" in m else line,
                f"{what} has no url yet: it cannot be recorded until one is set",
            )
            return None
        if not isinstance(raw, str):
            self.error(_key_line(m, "url"), f"url of {what} must be text, got {_kind(raw)}")
            return False
        try:
            return normalise_url(raw)
        except ValueError as exc:
            self.error(_key_line(m, "url"), f"invalid url for {what}: {exc}")
            return False

    # -- sessions --

    def session(self, value: Any, line: int) -> _Item | None:
        m = self.mapping(value, "a session", line)
        if m is None:
            return None
        sid = self.ident(m, "session")
        what = f"session {sid!r}" if sid else "session"
        self.keys(m, what, SESSION_KEYS, SESSION_REQUIRED, line)
        broadcast = self.text(m, "broadcast", f"broadcast of {what}")
        start, end = self.window(m, what)
        language = self.language(m, what)
        title = self.title(m, "title", language if isinstance(language, str) else None)
        speakers = self.speakers(m, what)
        track = self.text(m, "track", f"track of {what}")
        description = self.text(m, "description", f"description of {what}")
        record = m.get("record", True)
        if not isinstance(record, bool):
            self.error(
                _key_line(m, "record"),
                f"record of {what} must be true or false, got {_kind(record)}",
            )
        if isinstance(broadcast, str):
            self.refs.append((sid or "?", broadcast, _key_line(m, "broadcast")))
        if not (isinstance(sid, str) and isinstance(broadcast, str)):
            return None
        if not (isinstance(start, datetime) and isinstance(end, datetime)):
            return None
        # other bad values are already reported; keep the item so overlaps are still checked
        model = Session(
            id=sid,
            broadcast=broadcast,
            start=start,
            end=end,
            title=title if isinstance(title, dict) else {UNDETERMINED: "?"},
            speakers=speakers if isinstance(speakers, list) else [],
            track=track if isinstance(track, str) else None,
            language=language if isinstance(language, str) else None,
            record=record is not False,
            description=description if isinstance(description, str) else None,
        )
        return _Item(model, self.lines(m, line))

    def language(self, m: Mapping[str, Any], what: str) -> str | bool | None:
        value = self.text(m, "language", f"language of {what}")
        if isinstance(value, str) and not _LANG_RE.match(value):
            self.error(
                _key_line(m, "language"),
                f"language of {what} must be a language code like ko or en, got {value!r}",
            )
            return False
        return value

    def speakers(self, m: Mapping[str, Any], what: str) -> list[Speaker] | bool:
        raw = m.get("speakers")
        if raw is None:
            return []
        line = _key_line(m, "speakers")
        if not isinstance(raw, list):
            self.error(line, f"speakers of {what} must be a list, got {_kind(raw)}")
            return False
        out: list[Speaker] = []
        ok = True
        for index, item in enumerate(raw):
            item_line = _item_line(raw, index) or line
            if isinstance(item, str) and item.strip():
                out.append(Speaker(name=item.strip()))
                continue
            sm = self.mapping(item, f"a speaker of {what}", item_line)
            if sm is None:
                ok = False
                continue
            self.keys(sm, f"a speaker of {what}", SPEAKER_KEYS, ("name",), item_line)
            name = self.text(sm, "name", f"speaker name in {what}")
            affiliation = self.text(sm, "affiliation", f"speaker affiliation in {what}")
            if not isinstance(name, str) or affiliation is False:
                ok = False
                continue
            out.append(Speaker(name=name, affiliation=affiliation or None))
        return out if ok else False

    # -- values --

    def lines(self, m: Mapping[str, Any], line: int) -> dict[str, int]:
        lines = {str(k): _key_line(m, k) for k in m}
        lines[""] = line
        return lines

    def ident(self, m: Mapping[str, Any], what: str) -> str | None:
        if "id" not in m:
            return None
        value = m["id"]
        line = _key_line(m, "id")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.error(line, f"{what} id must be text, got {_kind(value)}")
            return None
        if not _ID_RE.fullmatch(value):
            self.error(
                line,
                f"invalid {what} id {value!r}: use 1-80 lower-case letters, digits, '-' or '_',"
                " starting with a letter or digit",
            )
            return None
        return value

    def text(self, m: Mapping[str, Any], key: str, what: str) -> str | bool | None:
        """Optional text: None when absent or empty, False (after an error) when not text."""
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.error(_key_line(m, key), f"{what} must be text, got {_kind(value)}")
            return False
        return value.strip() or None

    def title(self, m: Mapping[str, Any], key: str, lang: str | None) -> Title | bool | None:
        """``{lang: text}`` or plain text (keyed by ``lang``, else ``und``)."""
        if key not in m:
            return None
        value = m[key]
        line = _key_line(m, key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value).strip()
            if not text:
                self.error(line, f"{key} is empty")
                return False
            return {lang or UNDETERMINED: text}
        if not isinstance(value, Mapping) or not value:
            self.error(
                line,
                f"{key} must be text or a mapping like {{ko: ..., en: ...}}, got {_kind(value)}",
            )
            return False
        out: Title = {}
        for code, text in value.items():
            code_line = _key_line(value, code) or line
            if not isinstance(code, str) or not _LANG_RE.match(code):
                self.error(code_line, f"{key} key {code!r} is not a language code like ko or en")
                return False
            if isinstance(text, int | float) and not isinstance(text, bool):
                text = str(text)
            if not isinstance(text, str) or not text.strip():
                self.error(code_line, f"{key} in {code!r} must be non-empty text")
                return False
            out[code] = text.strip()
        return out

    def window(self, m: Mapping[str, Any], what: str) -> tuple[datetime | None, datetime | None]:
        tz = self.tz or UTC
        found: dict[str, datetime | None] = {"start": None, "end": None}
        for key in found:
            if key not in m:
                continue
            try:
                found[key] = parse_when(m[key], tz)
            except ValueError as exc:
                self.error(_key_line(m, key), f"bad {key} of {what}: {exc}")
        start, end = found["start"], found["end"]
        if start is not None and end is not None and _utc(end) <= _utc(start):
            self.error(
                _key_line(m, "end"),
                f"end of {what} ({_hm(end)}) is not after its start ({_hm(start)})",
            )
            return None, None
        return start, end

    # -- across items --

    def cross_check(self, broadcasts: list[_Item], sessions: list[_Item]) -> None:
        by_id: dict[str, _Item] = {}
        for bc in broadcasts:
            if bc.model.id in by_id:
                first = by_id[bc.model.id].line("id")
                self.error(
                    bc.line("id"), f"duplicate broadcast id {bc.model.id!r} (first at line {first})"
                )
            else:
                by_id[bc.model.id] = bc
        seen: dict[str, _Item] = {}
        for s in sessions:
            if s.model.id in seen:
                first = seen[s.model.id].line("id")
                self.error(
                    s.line("id"), f"duplicate session id {s.model.id!r} (first at line {first})"
                )
            else:
                seen[s.model.id] = s
        for sid, bid, line in self.refs:
            if bid not in by_id and bid not in self.broken_broadcasts:
                hint = suggest(bid, by_id)
                self.error(line, f"session {sid!r} names unknown broadcast {bid!r}{hint}")
        per_broadcast: dict[str, list[_Item]] = {}
        for s in sessions:
            b = by_id.get(s.model.broadcast)
            if b is None:
                continue
            per_broadcast.setdefault(b.model.id, []).append(s)
            self.within(s, b)
        for bid, items in per_broadcast.items():
            self.overlaps(bid, items)

    def within(self, s: _Item, b: _Item) -> None:
        ss, bs = s.model, b.model
        span = f"session {ss.id!r} ({_span(ss.start, ss.end)})"
        window = f"broadcast {bs.id!r} ({_span(bs.start, bs.end)}, line {b.line('id')})"
        if _utc(ss.end) <= _utc(bs.start) or _utc(ss.start) >= _utc(bs.end):
            self.error(s.line("start"), f"{span} is wholly outside the window of {window}")
        elif _utc(ss.start) < _utc(bs.start) or _utc(ss.end) > _utc(bs.end):
            self.warn(s.line("start"), f"{span} is partly outside the window of {window}")

    def overlaps(self, bid: str, items: list[_Item]) -> None:
        ordered = sorted(items, key=lambda i: (_utc(i.model.start), i.line("")))
        latest: _Item | None = None  # the session ending last so far
        for item in ordered:
            if latest is not None and _utc(item.model.start) < _utc(latest.model.end):
                a, b = latest.model, item.model
                self.error(
                    item.line("start"),
                    f"session {b.id!r} ({_span(b.start, b.end)}) overlaps session {a.id!r}"
                    f" ({_span(a.start, a.end)}, line {latest.line('id')}) in broadcast {bid!r}",
                )
            if latest is None or _utc(item.model.end) > _utc(latest.model.end):
                latest = item


def _hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _span(start: datetime, end: datetime) -> str:
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    return f"{_hm(start)}–{_hm(end)}"
