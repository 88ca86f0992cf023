"""The catalog's JSON objects: how they are encoded, and reading them back (VOD records,
``{event}/index.json``, ``events.json``)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from streamer.errors import NotFound, StorageError
from streamer.publish.layout import EVENTS, index_key, record_key
from streamer.publish.storage import Storage
from streamer.vod import VodRecord

JSON = "application/json; charset=utf-8"


def encode_json(value: Any) -> bytes:
    """UTF-8 JSON, Korean as is (not \\u escapes), stable key order for byte comparison."""
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")


def read_json(storage: Storage, key: str) -> Any | None:
    """The JSON object at ``key``, or None if absent; StorageError if it is not JSON."""
    try:
        data = storage.get_bytes(key)
    except NotFound:
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StorageError(f"{key} is not valid JSON: {exc}") from exc


def read_index(storage: Storage, event_id: str) -> dict[str, Any] | None:
    """``{event}/index.json`` as a dict, or None when the event has none."""
    value = read_json(storage, index_key(event_id))
    return value if isinstance(value, dict) else None


def read_events(storage: Storage) -> dict[str, Any]:
    """``events.json`` as a dict; an empty list of events when there is none yet."""
    value = read_json(storage, EVENTS)
    return value if isinstance(value, dict) else {"events": [], "generated_at": None}


def read_record(storage: Storage, event_id: str, session_id: str) -> VodRecord | None:
    value = read_json(storage, record_key(event_id, session_id))
    if value is None:
        return None
    try:
        return VodRecord.model_validate(value)
    except ValidationError as exc:
        raise StorageError(f"{record_key(event_id, session_id)}: bad record: {exc}") from exc
