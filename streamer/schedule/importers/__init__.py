"""Import a conference schedule into a Program: one module per format, found by sniffing.

Each format module has ``NAME``, ``detect(text) -> bool`` (does the content look like it) and
``read(text, source, zone, strict) -> Found`` (talks with absolute times and located problems).
A new format is a new module added to ``READERS``; ``build`` turns any reader's talks into
broadcasts (one per room and conference day) and sessions, checked like a YAML file.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from streamer.errors import ScheduleError
from streamer.schedule.importers import (
    frab_xml,
    pretalx_json,
    schedule_v2,
    spreadsheet,
)
from streamer.schedule.importers.build import build, slugify
from streamer.schedule.importers.build import event_id as make_event_id
from streamer.schedule.model import Program
from streamer.schedule.problems import Problem
from streamer.schedule.values import zone as named_zone

__all__ = ["FORMATS", "READERS", "detect_format", "import_schedule", "slugify"]

READERS: dict[str, ModuleType] = {
    m.NAME: m for m in (pretalx_json, schedule_v2, frab_xml, spreadsheet)
}
"""Format name → reader module, in the order ``detect_format`` tries them."""
FORMATS = tuple(READERS)


def detect_format(source: Path, text: str) -> str:
    """The format whose detector recognises the content; else by the file's suffix."""
    for name, reader in READERS.items():
        if reader.detect(text):
            return name
    suffix = source.suffix.lower()
    if suffix == ".xml" or text.lstrip()[:1] == "<":
        return frab_xml.NAME
    if suffix == ".json" or text.lstrip()[:1] in ("{", "["):
        return pretalx_json.NAME  # says precisely what is missing
    return spreadsheet.NAME


def import_schedule(
    source: Path,
    *,
    fmt: str = "auto",
    room_urls: dict[str, str] | None = None,
    event_id: str | None = None,
    timezone: str | None = None,
    strict: bool = False,
) -> tuple[Program, list[Problem]]:
    """Read ``source`` and build a valid Program; returns it with the importer's warnings.

    ``room_urls`` maps a room name to its broadcast URL; ``timezone`` is the event's zone
    (it overrides the source's; required when the source has neither a zone nor offsets);
    ``strict`` refuses a file with a talk that would be skipped. Raises ScheduleError whose
    problems are ``file:line: message`` lines.
    """
    name = str(source)
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ScheduleError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScheduleError(f"{name}:{line}: not UTF-8 text") from None
    if fmt != "auto" and fmt not in READERS:
        raise ScheduleError(f"{name}: unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    try:
        zone = named_zone(timezone) if timezone else None
    except ValueError as exc:
        raise ScheduleError(f"--timezone: {exc}") from None
    reader = READERS[detect_format(source, text) if fmt == "auto" else fmt]
    found = reader.read(text, name, zone, strict)
    if found.errors:
        errors = [str(p) for p in sorted(found.errors, key=lambda p: p.line)]
        raise ScheduleError(f"{name}: cannot import ({len(errors)} problems)", errors)
    if not found.talks:
        raise ScheduleError(f"{name}: no talks found ({reader.NAME})")
    warnings = [p for p in found.problems if p.warning]
    eid = make_event_id(found, event_id, source.stem)
    program = build(found, room_urls or {}, eid, warnings)
    return program, warnings
