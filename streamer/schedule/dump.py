"""Program → YAML text that ``load`` reads back into an equal Program.

Written by hand rather than through a YAML library's emitter: the shape is fixed and small, and
a 20,000-session program is written in a fraction of a second instead of tens of seconds. Every
scalar goes through ``text``, which keeps it plain only when it reads back as the same string.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, tzinfo

from streamer.schedule.model import Broadcast, CutPolicy, Program, Session, Speaker, Title
from streamer.schedule.values import UNDETERMINED
from streamer.schedule.yamlread import scalar

# Free text that is safe as a plain scalar in block and flow context (no ':', '#', ',', '{'...)
_PLAIN_SAFE = re.compile(r"^[^\W_][\w .'()/&+-]*(?<! )$")
# plain words other YAML readers (1.1) take for booleans or null, and dates: quoted for them
_RISKY = re.compile(r"^(y|n|yes|no|on|off|null|~)$|^\d{4}-\d\d?-\d\d?", re.IGNORECASE)
# characters YAML does not allow (or folds) inside a double-quoted scalar
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_FLOW_TITLE = 60
"""A title whose every text is shorter than this is written on one line: {ko: ..., en: ...}."""


def text(value: str) -> str:
    """``value`` as a YAML scalar that reads back as the same string."""
    if _PLAIN_SAFE.match(value) and not _RISKY.match(value) and scalar(value) == value:
        return value
    quoted = json.dumps(value, ensure_ascii=False)  # JSON escapes are YAML escapes
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def when(moment: datetime, tz: tzinfo) -> str:
    """ISO 8601 in ``tz`` with offset; minutes unless seconds are set."""
    local = moment.astimezone(tz)
    if local.microsecond:
        return local.isoformat(timespec="microseconds")
    return local.isoformat(timespec="seconds" if local.second else "minutes")


def dump_program(program: Program, *, comment: str | None = None) -> str:
    """The program as schedule YAML; times in the event's zone, always with their offset.

    The offset is written even though the file names its zone, so a local time in a
    daylight-saving fold can never be read back as the other instant.
    """
    tz = program.event.tz
    event = program.event
    out: list[str] = [f"# {line}".rstrip() for line in (comment or "").splitlines()]
    out.append("event:")
    out.append(f"  id: {text(event.id)}")
    out.extend(_title("  ", "title", event.title))
    out.append(f"  timezone: {text(event.timezone)}")
    if event.url:
        out.append(f"  url: {text(event.url)}")
    if event.description:
        out.extend(_title("  ", "description", event.description))
    if event.cut_policy is not CutPolicy.SCHEDULE:
        out.append(f"  cut_policy: {event.cut_policy.value}")
    out.append("broadcasts:" if program.broadcasts else "broadcasts: []")
    for b in program.broadcasts:
        out.extend(_broadcast(b, tz))
    out.append("sessions:" if program.sessions else "sessions: []")
    for s in program.sessions:
        out.extend(_session(s, tz))
    return "\n".join(out) + "\n"


def _title(indent: str, key: str, title: Title, *, plain: bool = True) -> list[str]:
    if plain and set(title) == {UNDETERMINED}:
        return [f"{indent}{key}: {text(title[UNDETERMINED])}"]
    if all(len(value) < _FLOW_TITLE for value in title.values()):
        pairs = ", ".join(f"{text(lang)}: {text(value)}" for lang, value in title.items())
        return [f"{indent}{key}: {{{pairs}}}"]
    return [f"{indent}{key}:"] + [
        f"{indent}  {text(lang)}: {text(value)}" for lang, value in title.items()
    ]


def _broadcast(b: Broadcast, tz: tzinfo) -> list[str]:
    out = [f"  - id: {text(b.id)}"]
    if b.title:
        out.extend(_title("    ", "title", b.title))
    if b.day is not None:
        out.append(f"    day: {b.day.isoformat()}")
    out.append(f"    url: {text(b.url or '')}")
    out.append(f"    start: {when(b.start, tz)}")
    out.append(f"    end: {when(b.end, tz)}")
    return out


def _speaker(sp: Speaker) -> str:
    if sp.affiliation:
        return f"      - {{name: {text(sp.name)}, affiliation: {text(sp.affiliation)}}}"
    return f"      - {{name: {text(sp.name)}}}"


def _session(s: Session, tz: tzinfo) -> list[str]:
    out = [
        f"  - id: {text(s.id)}",
        f"    broadcast: {text(s.broadcast)}",
        f"    start: {when(s.start, tz)}",
        f"    end: {when(s.end, tz)}",
    ]
    # a plain string would be read back keyed by the session's language, not "und"
    out.extend(_title("    ", "title", s.title, plain=not s.language))
    if s.subtitle:
        out.append(f"    subtitle: {text(s.subtitle)}")
    if s.speakers:
        out.append("    speakers:")
        out.extend(_speaker(sp) for sp in s.speakers)
    if s.track:
        out.append(f"    track: {text(s.track)}")
    if s.language:
        out.append(f"    language: {text(s.language)}")
    if not s.record:
        out.append("    record: false")
    if s.description:
        out.append(f"    description: {text(s.description)}")
    return out
