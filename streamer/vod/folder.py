"""The VOD folder (DESIGN §4): what split writes and publish reads, one folder per event.

    {root}/{event}/event.json                 the event, as the index shows it
    {root}/{event}/{session}.mp4|.jpg|.json   media, thumbnail, VOD record

This module is the only one that names these files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streamer.errors import NotFoundError, StorageError
from streamer.files import atomic_write
from streamer.schedule.model import Program
from streamer.vod import VodRecord, dump

EVENT_FILE = "event.json"


@dataclass(frozen=True)
class Outputs:
    """The three files of one session."""

    mp4: Path
    jpg: Path
    json: Path

    @classmethod
    def of(cls, root: Path, event_id: str, session_id: str) -> Outputs:
        base = Path(root) / event_id
        return cls(
            base / f"{session_id}.mp4", base / f"{session_id}.jpg", base / f"{session_id}.json"
        )


def write_event(program: Program, root: Path) -> Path:
    """``{root}/{event}/event.json``, rewritten only when it changed."""
    path = Path(root) / program.event.id / EVENT_FILE
    body = json.dumps(program.event.model_dump(mode="json"), ensure_ascii=False, indent=2)
    if not path.exists() or path.read_text("utf-8") != body + "\n":
        atomic_write(path, (body + "\n").encode())
    return path


def read_event(root: Path, event_id: str) -> dict[str, Any] | None:
    """The event as split wrote it, or None if there is none; StorageError if unreadable."""
    path = Path(root) / event_id / EVENT_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    if not isinstance(value, dict) or value.get("id", event_id) != event_id:
        raise StorageError(f"{path}: not the event {event_id!r}")
    value.setdefault("id", event_id)
    return value


def write_record(path: Path, record: VodRecord) -> None:
    """A session's VOD record, written last: a record on disk describes finished media."""
    body = json.dumps(dump(record), ensure_ascii=False, indent=2) + "\n"
    atomic_write(path, body.encode())


def load_record(path: Path) -> VodRecord | None:
    """A VOD record from its JSON, or None when absent or unreadable."""
    try:
        return VodRecord.model_validate_json(path.read_text("utf-8"))
    except (OSError, ValueError, ValidationError):
        return None


def read_record_file(path: Path) -> VodRecord:
    """A VOD record from its JSON; StorageError when it cannot be read."""
    try:
        return VodRecord.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc


def find_sessions(root: Path) -> dict[str, list[str]]:
    """``{event_id: [session_id...]}`` for every ``{event}/{session}.mp4`` with its ``.json``."""
    if not root.is_dir():
        raise NotFoundError(f"no such directory {root}")
    found: dict[str, list[str]] = {}
    for event_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        sessions = sorted(
            p.stem
            for p in event_dir.glob("*.json")
            if p.name not in (EVENT_FILE, "index.json") and p.with_suffix(".mp4").is_file()
        )
        if sessions:
            found[event_dir.name] = sessions
    return found
