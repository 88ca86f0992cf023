"""Program → YAML text that ``load`` reads back into an equal Program."""

from __future__ import annotations

import io
import re
from datetime import datetime, tzinfo
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from streamer.schedule.load import UNDETERMINED
from streamer.schedule.model import Broadcast, CutPolicy, Program, Session, Title

# Free text that is safe as a plain scalar in block and flow context; anything else is
# double-quoted (ruamel writes e.g. "?0" unquoted inside a flow mapping, which it cannot read).
_PLAIN_SAFE = re.compile(r"^[^\W_][\w .'()/&+-]*(?<! )$")


def text(value: str) -> str:
    """``value`` as a scalar that reads back as the same string."""
    return value if _PLAIN_SAFE.match(value) else DoubleQuotedScalarString(value)


def dump_program(program: Program, *, comment: str | None = None) -> str:
    """The program as schedule YAML; times in the event's zone, always with their offset.

    The offset is written even though the file names its zone, so a local time in a
    daylight-saving fold can never be read back as the other instant.
    """
    tz = program.event.tz
    event = CommentedMap()
    event["id"] = program.event.id
    event["title"] = _title(program.event.title)
    event["timezone"] = program.event.timezone
    if program.event.url:
        event["url"] = program.event.url
    if program.event.description:
        event["description"] = _title(program.event.description)
    if program.event.cut_policy is not CutPolicy.SCHEDULE:
        event["cut_policy"] = program.event.cut_policy.value
    root = CommentedMap()
    root["event"] = event
    root["broadcasts"] = _seq(_broadcast(b, tz) for b in program.broadcasts)
    root["sessions"] = _seq(_session(s, tz) for s in program.sessions)
    if comment:
        root.yaml_set_start_comment(comment)
    yaml = YAML(typ="rt")
    yaml.width = 4096  # never fold a long title over lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(root, out)
    return out.getvalue()


def when(moment: datetime, tz: tzinfo) -> str:
    """ISO 8601 in ``tz`` with offset; minutes unless seconds are set."""
    local = moment.astimezone(tz)
    if local.microsecond:
        return local.isoformat(timespec="microseconds")
    return local.isoformat(timespec="seconds" if local.second else "minutes")


def _seq(items: Any) -> CommentedSeq:
    seq = CommentedSeq()
    seq.extend(items)
    return seq


def _title(title: Title, *, plain: bool = True) -> str | CommentedMap:
    if plain and set(title) == {UNDETERMINED}:
        return text(title[UNDETERMINED])
    out = CommentedMap((lang, text(value)) for lang, value in title.items())
    if all(len(text) < 60 for text in title.values()):
        out.fa.set_flow_style()
    return out


def _broadcast(b: Broadcast, tz: tzinfo) -> CommentedMap:
    out = CommentedMap()
    out["id"] = b.id
    if b.title:
        out["title"] = _title(b.title)
    out["url"] = b.url or ""
    out["start"] = when(b.start, tz)
    out["end"] = when(b.end, tz)
    return out


def _session(s: Session, tz: tzinfo) -> CommentedMap:
    out = CommentedMap()
    out["id"] = s.id
    out["broadcast"] = s.broadcast
    out["start"] = when(s.start, tz)
    out["end"] = when(s.end, tz)
    # a plain string would be read back keyed by the session's language, not "und"
    out["title"] = _title(s.title, plain=not s.language)
    if s.speakers:
        speakers = CommentedSeq()
        for sp in s.speakers:
            entry = CommentedMap()
            entry["name"] = text(sp.name)
            if sp.affiliation:
                entry["affiliation"] = text(sp.affiliation)
            entry.fa.set_flow_style()
            speakers.append(entry)
        out["speakers"] = speakers
    if s.track:
        out["track"] = text(s.track)
    if s.language:
        out["language"] = s.language
    if not s.record:
        out["record"] = False
    if s.description:
        out["description"] = text(s.description)
    return out
