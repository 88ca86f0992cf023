"""Schedule YAML → plain data that remembers the line of every key and item.

libyaml (through PyYAML's C parser) builds the node tree, so a 20,000-session file reads in
about a second, not the half minute of a pure-Python round-trip loader. Scalars are resolved
here by the YAML 1.2 core schema (``yes`` is text, ``true`` a boolean), and timestamps stay
text: the checker parses them in the event's zone rather than silently as UTC.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

_Base: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


_Loader: Any = _Base  # only its parser is used: scalars are typed here, by YAML 1.2
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"^\.(nan|NaN|NAN)$")
_MERGE = "<<"
_TYPED_START = frozenset("0123456789+-.~nNtTfF") | {""}
# every typed scalar matches this; a time like 2021-04-27T10:00 fails at its first '-'
_MAYBE_TYPED = re.compile(
    r"^(|~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]*\.?[0-9]*([eE][-+]?[0-9]+)?"
    r"|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$"
)


class LineMap(dict[Any, Any]):
    """A mapping with the 1-based line of itself (``line``) and of each key (``key_lines``)."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}


class LineSeq(list[Any]):
    """A sequence with the 1-based line of itself (``line``) and of each item (``item_lines``)."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


class YamlSyntaxError(ValueError):
    """Unreadable YAML: ``line`` (1-based) and what is wrong."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_yaml(text: str) -> Any:
    """One YAML document as LineMap/LineSeq/scalars; YamlSyntaxError when unreadable.

    Built from libyaml's events rather than its node tree: a tree of nodes and marks for a
    20,000-session file takes five times the time and over 200 MB.
    """
    builder = _Builder()
    try:
        for event in yaml.parse(text, Loader=_Loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(line, f"YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, f"YAML error: {exc}") from None
    return builder.root


class _MergeKey:
    """A plain ``<<`` key: the mapping (or list of mappings) it names is merged in."""


_MERGE_KEY = _MergeKey()
_NO_KEY = object()


class _Builder:
    def __init__(self) -> None:
        self.root: Any = None
        self.documents = 0
        # per open container: [container, pending key, its line, mappings to merge]
        self.stack: list[list[Any]] = []
        self.anchors: dict[str, Any] = {}

    def feed(self, event: Any) -> None:
        cls = type(event)
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if cls is ScalarEvent:
            plain = not event.style and event.tag is None
            value = scalar(event.value) if plain else event.value
            if plain and event.value == _MERGE and self._expects_key():
                value = _MERGE_KEY
            if event.anchor is not None:
                self.anchors[event.anchor] = value
            self.add(value, line)
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            container: Any = LineMap(line) if cls is MappingStartEvent else LineSeq(line)
            self._anchor(event, container)
            self.stack.append([container, _NO_KEY, 0, []])
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            container, _, _, merges = self.stack.pop()
            if merges:
                _merge(container, merges)
            self.add(container, container.line)
        elif cls is AliasEvent:
            if event.anchor not in self.anchors:
                raise YamlSyntaxError(line, f"YAML syntax error: unknown alias *{event.anchor}")
            self.add(self.anchors[event.anchor], line)
        elif cls is DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise YamlSyntaxError(
                    line, "YAML syntax error: expected a single document, found another"
                )

    def _expects_key(self) -> bool:
        return (
            bool(self.stack)
            and type(self.stack[-1][0]) is LineMap
            and (self.stack[-1][1] is _NO_KEY)
        )

    def _anchor(self, event: Any, value: Any) -> None:
        if event.anchor is not None:
            self.anchors[event.anchor] = value

    def add(self, value: Any, line: int) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        container = top[0]
        if type(container) is LineSeq:
            container.append(value)
            container.item_lines.append(line)
            return
        if top[1] is _NO_KEY:
            if isinstance(value, LineMap | LineSeq):
                raise YamlSyntaxError(
                    line, "YAML syntax error: a key must be text, not a structure"
                )
            top[1], top[2] = value, line
            return
        key, key_line = top[1], top[2]
        top[1] = _NO_KEY
        if key is _MERGE_KEY:
            top[3].extend(value if isinstance(value, list) else [value])
        elif key in container:
            first = container.key_lines[key]
            raise YamlSyntaxError(
                key_line, f"YAML syntax error: found duplicate key {key!r} (first at line {first})"
            )
        else:
            container[key] = value
            container.key_lines[key] = key_line


def _merge(out: LineMap, merged: list[Any]) -> None:
    for source in merged:
        if not isinstance(source, LineMap):
            raise YamlSyntaxError(out.line, "YAML syntax error: '<<' must name a mapping")
        for key, value in source.items():
            if key not in out:
                out[key] = value
                out.key_lines[key] = source.key_lines[key]


def scalar(text: str) -> Any:
    """A plain scalar by the YAML 1.2 core schema (no timestamps: they stay text)."""
    if text[:1] not in _TYPED_START or not _MAYBE_TYPED.match(text):
        return text  # most values (times too) are ruled out by one test
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text
