"""Plain data (as read from YAML, with lines) → Program, every problem at its line.

The keys and the way each value is read come from the model (``fields.specs``); what is
written here are the rules across values: an end after its start, ids unique, a session in
its broadcast's window and not overlapping another of the same broadcast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from streamer.schedule.fields import Kind, Spec, specs
from streamer.schedule.model import ID_RE, LANG_RE, Broadcast, Event, Program, Session, Title
from streamer.schedule.problems import Problem, Report
from streamer.schedule.rules import cross_check
from streamer.schedule.urls import normalise_url
from streamer.schedule.values import (
    UNDETERMINED,
    hm,
    kind,
    parse_date,
    parse_when,
    suggest,
    utc,
    zone,
)
from streamer.schedule.yamlread import LineMap, LineSeq

_BAD = object()
"""A value that was wrong (and reported): the item is kept for cross-checks, the file fails."""


def node_line(node: Any) -> int:
    line = getattr(node, "line", 0)
    return line if isinstance(line, int) else 0


def key_line(mapping: Any, key: Any) -> int:
    if isinstance(mapping, LineMap) and key in mapping.key_lines:
        return mapping.key_lines[key]
    return node_line(mapping)


def item_line(seq: Any, index: int) -> int:
    if isinstance(seq, LineSeq) and index < len(seq.item_lines):
        return seq.item_lines[index]
    return node_line(seq)


@dataclass
class Item:
    """A checked broadcast or session with the lines of its keys, for cross-checks."""

    model: Any
    mapping: Mapping[str, Any]
    at: int

    def line(self, key: str) -> int:
        return key_line(self.mapping, key) if key in self.mapping else self.at


class Checker:
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

    def warn(self, line: int, message: str, group: str | None = None) -> None:
        self.report.problems.append(Problem(self.source, line, message, True, group))

    # -- structure --

    def keys(self, m: Mapping[str, Any], what: str, model: type[BaseModel], line: int) -> None:
        spec = specs(model)
        known = spec.known
        for key in m:
            if key not in known:
                hint = suggest(str(key), known) or f" (known keys: {', '.join(known)})"
                self.error(key_line(m, key), f"unknown key {key!r} in {what}{hint}")
        for key in spec.required:
            if key not in m:
                self.error(line, f"{what} is missing the required key {key!r}")

    def mapping(self, value: Any, what: str, line: int) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.error(line, f"{what} must be a mapping (key: value lines), got {kind(value)}")
        return None

    def program(self, data: Any) -> Program | None:
        if data is None or (isinstance(data, str) and not data.strip()):
            self.error(1, "empty file: expected the keys event, broadcasts and sessions")
            return None
        root = self.mapping(data, "the top level", 1)
        if root is None:
            return None
        self.keys(root, "the top level", Program, node_line(root) or 1)
        event = None
        if "event" in root:
            event = self.event(root["event"], key_line(root, "event"))
        broadcasts = self.items(root, "broadcasts", self.broadcast)
        sessions = self.items(root, "sessions", self.session)
        cross_check(self, broadcasts, sessions)
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

    def items(self, root: Mapping[str, Any], key: str, parse: Callable[..., Any]) -> list[Item]:
        seq = root.get(key)
        if seq is None:
            return []
        if not isinstance(seq, list):
            self.error(
                key_line(root, key),
                f"{key} must be a list (lines starting with '- '), got {kind(seq)}",
            )
            return []
        out: list[Item] = []
        for index, value in enumerate(seq):
            item = parse(value, item_line(seq, index))
            if item is not None:
                out.append(item)
        return out

    # -- one mapping, read by its model --

    def record(
        self, m: Mapping[str, Any], model: type[BaseModel], what: str, noun: str
    ) -> dict[str, Any]:
        """Every field present in ``m`` read by its kind: good values, or _BAD (reported)."""
        values: dict[str, Any] = {}
        for spec in specs(model).ordered:
            if spec.name in m:
                values[spec.name] = self.value(spec, m, what, noun, values)
        return values

    def value(
        self, spec: Spec, m: Mapping[str, Any], what: str, noun: str, values: dict[str, Any]
    ) -> Any:
        key, raw, line = spec.name, m[spec.name], key_line(m, spec.name)
        if spec.kind is Kind.ID:
            return self.ident(raw, line, noun)
        if spec.kind is Kind.TITLE:
            lang = values.get("language")
            return self.title(raw, key, line, lang if isinstance(lang, str) else None)
        if spec.kind is Kind.ITEMS and spec.model is not None:
            return self.sub_items(raw, key, line, spec.model, what)
        if spec.kind is Kind.MODEL:
            return _BAD  # nested single models are read by their own method (event)
        if spec.kind is Kind.ZONE:
            return self.timezone(raw, line)
        if spec.kind is Kind.FLAG:
            if isinstance(raw, bool):
                return raw
            self.error(line, f"{key} of {what} must be true or false, got {kind(raw)}")
            return _BAD
        if spec.kind is Kind.TIME:
            try:
                return parse_when(raw, self.tz or UTC)
            except ValueError as exc:
                self.error(line, f"bad {key} of {what}: {exc}")
                return _BAD
        if spec.kind is Kind.DATE:
            try:
                return parse_date(raw)
            except ValueError as exc:
                self.error(line, f"{key} of {what}: {exc}")
                return _BAD
        text = self.text(raw, line, key, what)
        if not isinstance(text, str):
            return text
        if spec.choices and text not in spec.choices:
            self.error(line, f"{key} of {what} must be one of {', '.join(spec.choices)}")
            return _BAD
        if spec.kind is Kind.LANGUAGE and not LANG_RE.match(text):
            self.error(line, f"{key} of {what} must be a language code like ko or en, got {text!r}")
            return _BAD
        if spec.kind is Kind.URL:
            try:
                return normalise_url(text)
            except ValueError as exc:
                self.error(line, f"invalid {key} for {what}: {exc}")
                return _BAD
        return text

    # -- event, broadcasts, sessions --

    def event(self, value: Any, line: int) -> Event | None:
        m = self.mapping(value, "event", line)
        if m is None:
            return None
        self.keys(m, "event", Event, line)
        values = self.record(m, Event, "event", "event")
        if "timezone" in values and values["timezone"] is not _BAD:
            self.tz = ZoneInfo(values["timezone"])
        event: Event | None = self.build(Event, values)
        return event

    def broadcast(self, value: Any, line: int) -> Item | None:
        m = self.mapping(value, "a broadcast", line)
        if m is None:
            return None
        bid = self.ident(m["id"], key_line(m, "id"), "broadcast") if "id" in m else None
        what = f"broadcast {bid!r}" if isinstance(bid, str) else "broadcast"
        self.keys(m, what, Broadcast, line)
        values = self.record(m, Broadcast, what, "broadcast")
        if values.get("url") is None:
            self.warn(
                key_line(m, "url") if "url" in m else line,
                f"{what} has no url yet: it cannot be recorded until one is set",
                "no-url",
            )
        self.window(m, values, what)
        if not isinstance(bid, str):
            return None
        if not self.has_window(values):
            self.broken_broadcasts.add(bid)  # sessions naming it add no "unknown broadcast"
            return None
        return Item(self.build(Broadcast, values, keep=True), m, line)

    def session(self, value: Any, line: int) -> Item | None:
        m = self.mapping(value, "a session", line)
        if m is None:
            return None
        sid = self.ident(m["id"], key_line(m, "id"), "session") if "id" in m else None
        what = f"session {sid!r}" if isinstance(sid, str) else "session"
        self.keys(m, what, Session, line)
        values = self.record(m, Session, what, "session")
        self.window(m, values, what)
        ref = values.get("broadcast")
        if isinstance(ref, str):
            self.refs.append((sid if isinstance(sid, str) else "?", ref, key_line(m, "broadcast")))
        if not (isinstance(sid, str) and isinstance(ref, str) and self.has_window(values)):
            return None
        return Item(self.build(Session, values, keep=True), m, line)

    def build(self, model: type[BaseModel], values: dict[str, Any], keep: bool = False) -> Any:
        """The model from good values; with ``keep``, an unvalidated one when some were bad
        (only its id, broadcast and times are used, for cross-checks; the file has failed)."""
        good = {k: v for k, v in values.items() if v is not _BAD and v is not None}
        if len(good) == len([v for v in values.values() if v is not None]):
            try:
                return model(**good)
            except ValidationError:
                if not keep:
                    return None
        elif not keep:
            return None
        return model.model_construct(**good)

    @staticmethod
    def has_window(values: dict[str, Any]) -> bool:
        return isinstance(values.get("start"), datetime) and isinstance(values.get("end"), datetime)

    # -- values --

    def ident(self, value: Any, line: int, noun: str) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.error(line, f"{noun} id must be text, got {kind(value)}")
            return _BAD
        if not ID_RE.fullmatch(value):
            self.error(
                line,
                f"invalid {noun} id {value!r}: use 1-80 lower-case letters, digits, '-' or '_',"
                " starting with a letter or digit",
            )
            return _BAD
        return value

    def timezone(self, name: Any, line: int) -> Any:
        if not isinstance(name, str) or not name.strip():
            self.error(
                line, f"timezone must be an IANA zone name like Asia/Seoul, got {kind(name)}"
            )
            return _BAD
        try:
            return zone(name.strip()).key
        except ValueError as exc:
            self.error(line, str(exc))
            return _BAD

    def text(self, value: Any, line: int, key: str, what: str) -> Any:
        """Optional text: None when empty, _BAD (after an error) when not text."""
        if isinstance(value, str):
            return value.strip() or None
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self.error(line, f"{key} of {what} must be text, got {kind(value)}")
        return _BAD

    def title(self, value: Any, key: str, line: int, lang: str | None) -> Any:
        """``{lang: text}`` or plain text (keyed by ``lang``, else ``und``)."""
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value).strip()
            if not text:
                self.error(line, f"{key} is empty")
                return _BAD
            return {lang or UNDETERMINED: text}
        if not isinstance(value, Mapping) or not value:
            self.error(
                line,
                f"{key} must be text or a mapping like {{ko: ..., en: ...}}, got {kind(value)}",
            )
            return _BAD
        out: Title = {}
        for code, text in value.items():
            code_line = key_line(value, code) or line
            if not isinstance(code, str) or not LANG_RE.match(code):
                self.error(code_line, f"{key} key {code!r} is not a language code like ko or en")
                return _BAD
            if isinstance(text, int | float) and not isinstance(text, bool):
                text = str(text)
            if not isinstance(text, str) or not text.strip():
                self.error(code_line, f"{key} in {code!r} must be non-empty text")
                return _BAD
            out[code] = text.strip()
        return out

    def sub_items(self, raw: Any, key: str, line: int, model: type[BaseModel], what: str) -> Any:
        """A list of small models (speakers); a plain text item fills the first field."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.error(line, f"{key} of {what} must be a list, got {kind(raw)}")
            return _BAD
        first = specs(model).fields[0].name
        noun = f"a {key.removesuffix('s')} of {what}"
        out: list[Any] = []
        ok = True
        for index, item in enumerate(raw):
            at = item_line(raw, index) or line
            if isinstance(item, str) and item.strip():
                out.append(model(**{first: item.strip()}))
                continue
            sm = self.mapping(item, noun, at)
            if sm is None:
                ok = False
                continue
            self.keys(sm, noun, model, at)
            values = self.record(sm, model, noun, noun)
            built = self.build(model, values) if first in values else None
            if built is None:
                ok = False
                continue
            out.append(built)
        return out if ok else _BAD

    def window(self, m: Mapping[str, Any], values: dict[str, Any], what: str) -> None:
        start, end = values.get("start"), values.get("end")
        if isinstance(start, datetime) and isinstance(end, datetime) and utc(end) <= utc(start):
            self.error(
                key_line(m, "end"),
                f"end of {what} ({hm(end)}) is not after its start ({hm(start)})",
            )
            values["start"] = values["end"] = _BAD
