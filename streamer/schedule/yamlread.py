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
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Loader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # no implicit types: done below

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
    """One YAML document as LineMap/LineSeq/scalars; YamlSyntaxError when unreadable."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(line, f"YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, f"YAML error: {exc}") from None
    return None if node is None else _value(node)


def scalar(text: str) -> Any:
    """A plain scalar by the YAML 1.2 core schema (no timestamps: they stay text)."""
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


def _value(node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return scalar(node.value) if not node.style else node.value  # C: "", Python: None
    if isinstance(node, SequenceNode):
        seq = LineSeq(node.start_mark.line + 1)
        for item in node.value:
            seq.append(_value(item))
            seq.item_lines.append(item.start_mark.line + 1)
        return seq
    if isinstance(node, MappingNode):
        return _mapping(node)
    raise YamlSyntaxError(node.start_mark.line + 1, "YAML syntax error: unexpected node")


def _mapping(node: MappingNode) -> LineMap:
    out = LineMap(node.start_mark.line + 1)
    merged: list[LineMap] = []
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, ScalarNode):
            raise YamlSyntaxError(line, "YAML syntax error: a key must be text, not a structure")
        key = scalar(key_node.value) if not key_node.style else key_node.value
        if key == _MERGE and not key_node.style:  # `<<: *defaults`
            value = _value(value_node)
            merged.extend(value if isinstance(value, list) else [value])
            continue
        if key in out:
            first = out.key_lines[key]
            raise YamlSyntaxError(
                line, f"YAML syntax error: found duplicate key {key!r} (first at line {first})"
            )
        out[key] = _value(value_node)
        out.key_lines[key] = line
    for source in merged:
        if not isinstance(source, LineMap):
            raise YamlSyntaxError(out.line, "YAML syntax error: '<<' must name a mapping")
        for key, value in source.items():
            if key not in out:
                out[key] = value
                out.key_lines[key] = source.key_lines[key]
    return out
