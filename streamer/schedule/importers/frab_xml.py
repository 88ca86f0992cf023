"""frab's schedule.xml (also pentabarf's and Jekyll-made ones): ``<schedule><conference/>
<day index date start><room name><event guid id>...``. Each ``<event>`` is made into the JSON
talk shape and read like one.

Parsed with expat directly, for the line of every element and to refuse a real document type
declaration (entity expansion: billion laughs, external entities) before the root element,
while text such as ``<!DOCTYPE html>`` inside a CDATA description is just text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat
from zoneinfo import ZoneInfo

from streamer.errors import ScheduleError
from streamer.schedule.importers.base import Found
from streamer.schedule.importers.talks import RawTalk, finish

NAME = "frab-xml"
_TEXT_FIELDS = (
    "date",
    "start",
    "duration",
    "room",
    "slug",
    "title",
    "subtitle",
    "track",
    "language",
    "abstract",
    "description",
    "url",
)


def detect(text: str) -> bool:
    """XML whose root element is ``<schedule>``."""
    head = text.lstrip()[:4096]
    return head.startswith("<") and "<schedule" in head


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def find(self, tag: str) -> Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def all(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def child_text(self, tag: str) -> str | None:
        child = self.find(tag)
        return (child.text or None) if child is not None else None


class _Refused(Exception):
    pass


def parse(text: str, name: str) -> Node:
    """The element tree with lines; ScheduleError ``file:line: ...`` when unreadable."""
    parser = expat.ParserCreate(encoding="utf-8")  # the text is already decoded
    stack: list[Node] = []
    root: list[Node] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1].parts.append(data)

    def refuse(*args: Any) -> None:
        raise _Refused

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse  # no DTD, so no entities to expand
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(text.encode("utf-8"), True)
    except _Refused:
        raise ScheduleError(
            f"{name}:{parser.CurrentLineNumber}: XML with a document type declaration (DOCTYPE)"
            " is refused (entities could expand without bound)"
        ) from None
    except expat.ExpatError as exc:
        raise ScheduleError(
            f"{name}:{exc.lineno}: invalid XML: {expat.ErrorString(exc.code)}"
        ) from None
    return root[0]


def read(text: str, name: str, tz: ZoneInfo | None, strict: bool) -> Found:
    root = parse(text, name)
    if root.tag != "schedule":
        raise ScheduleError(f"{name}:{root.line}: not a frab schedule.xml (root is <{root.tag}>)")
    found = Found(name, strict=strict)
    conference = root.find("conference")
    if conference is not None:
        found.title = conference.child_text("title")
        found.acronym = conference.child_text("acronym")
        found.zone = conference.child_text("time_zone_name")
    raws: list[RawTalk] = []
    for index, day in enumerate(root.all("day"), start=1):
        number_text = day.attrs.get("index") or str(index)
        if not number_text.strip().isdigit():
            found.error(day.line, f"day index {number_text!r} is not a day number (1, 2, ...)")
            continue
        for room in day.all("room"):
            for event in room.all("event"):
                talk = _talk(event)
                raws.append(
                    RawTalk(
                        talk,
                        event.line,
                        room.attrs.get("name", ""),
                        int(number_text),
                        day.attrs.get("date"),
                        day.attrs.get("start"),
                    )
                )
    if not found.errors:
        finish(found, raws, tz)
    return found


def _talk(event: Node) -> dict[str, Any]:
    talk: dict[str, Any] = {key: event.child_text(key) for key in _TEXT_FIELDS}
    talk["guid"] = event.attrs.get("guid")
    talk["id"] = event.attrs.get("id")
    persons = event.find("persons")
    talk["persons"] = [_person(p) for p in persons.all("person")] if persons is not None else []
    optout = event.find("recording")
    optout = optout.find("optout") if optout is not None else event.find("optout")
    talk["do_not_record"] = optout.text if optout is not None else None
    return talk


def _person(person: Node) -> str:
    """A person's name: the element's text, else a <name>/<public_name> child, else an
    attribute (Jekyll-made files write persons without an id, some with nested names)."""
    return (
        person.text
        or person.child_text("public_name")
        or person.child_text("name")
        or person.attrs.get("name", "")
    )
