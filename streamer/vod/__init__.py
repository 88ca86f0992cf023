"""The VOD record: what split produces, publish completes, and the API and website read.

Contract (DESIGN §4): every field below appears in ``{event}/{session}.json`` and in
``{event}/index.json`` items. Fields known only at publish time are ``None`` before it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from streamer.schedule.model import Speaker, Title
from streamer.schedule.urls import public_url


class GapInfo(BaseModel):
    start: str
    end: str
    duration_s: float
    reason: str = ""


class CutInfo(BaseModel):
    """Which cut a VOD uses and why (an extension of the DESIGN record)."""

    source: Literal["schedule", "suggested", "mark", "correction"]
    confidence: float | None = None  # the suggestion's, when one was made
    reason: str = ""


class VodRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str  # "{event_id}.{session_id}" (ids cannot contain dots)
    event_id: str
    session_id: str
    broadcast_id: str | None = None
    title: Title
    speakers: list[Speaker] = []
    track: str | None = None
    language: str | None = None
    day: str | None = None  # YYYY-MM-DD in the event's zone
    start: str  # actual cut, ISO 8601 with offset (event zone)
    end: str
    scheduled_start: str
    scheduled_end: str
    duration_s: float
    media_url: str | None = None
    thumbnail_url: str | None = None
    size_bytes: int
    sha256: str
    gaps: list[GapInfo] = []
    coverage: float = 1.0  # covered share of the window, 0..1
    status: str = "complete"  # complete | incomplete
    source_url: str | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    published_at: str | None = None
    updated_at: str | None = None
    version: int = 0
    cut: CutInfo | None = None
    needs_review: bool = False  # the media team should check this cut

    @field_validator("source_url")
    @classmethod
    def _public_source(cls, value: str | None) -> str | None:
        # a broadcast URL may hold user:pass@ or ?token=; the public record keeps none of it
        return public_url(value)


def vod_id(event_id: str, session_id: str) -> str:
    return f"{event_id}.{session_id}"


def split_vod_id(value: str) -> tuple[str, str]:
    event_id, _, session_id = value.partition(".")
    return event_id, session_id


def dump(record: VodRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")
