"""The storage layout (DESIGN §4): every key name of the published catalog, in one place.

    events.json                      the events with a published VOD
    {event}/index.json               the event's VOD records
    {event}/feed.xml                 its RSS feed
    {event}/{session}.mp4|.jpg|.json media, thumbnail, VOD record

The publisher writes these keys, the API reads them; neither spells a key itself. Also here:
the Cache-Control each kind of key gets.
"""

from __future__ import annotations

from streamer.publish.storage import check_key
from streamer.vod.folder import EVENT_FILE

INDEX = "index.json"
EVENTS = "events.json"
FEED = "feed.xml"
_NOT_RECORDS = frozenset({INDEX, EVENT_FILE})  # .json keys under {event}/ that are not records

CACHE_MEDIA = "public, max-age=86400"  # a re-cut keeps its key; a day bounds staleness
CACHE_RECORD = "public, max-age=60"
CACHE_INDEX = "public, max-age=60"
CACHE_FEED = "public, max-age=300"


def media_key(event_id: str, session_id: str) -> str:
    return check_key(f"{event_id}/{session_id}.mp4")


def thumbnail_key(event_id: str, session_id: str) -> str:
    return check_key(f"{event_id}/{session_id}.jpg")


def record_key(event_id: str, session_id: str) -> str:
    return check_key(f"{event_id}/{session_id}.json")


def index_key(event_id: str) -> str:
    return check_key(f"{event_id}/{INDEX}")


def feed_key(event_id: str) -> str:
    return check_key(f"{event_id}/{FEED}")


def index_event(key: str) -> str | None:
    """The event id of a ``{event}/index.json`` key, else None."""
    parts = key.split("/")
    return parts[0] if len(parts) == 2 and parts[1] == INDEX else None


def record_session(event_id: str, key: str) -> str | None:
    """The session id of a ``{event}/{session}.json`` record key, else None."""
    prefix = f"{event_id}/"
    if not key.startswith(prefix):
        return None
    name = key[len(prefix) :]
    if "/" in name or not name.endswith(".json") or name in _NOT_RECORDS:
        return None
    return name[: -len(".json")]


def cache_control_for(key: str) -> str:
    """The Cache-Control an object gets in S3, for servers of the local store to match."""
    if key.endswith((".mp4", ".jpg")):
        return CACHE_MEDIA
    if key.endswith(".xml"):
        return CACHE_FEED
    return CACHE_INDEX
