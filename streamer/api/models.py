"""Response models: they document the API (OpenAPI) and are what schemathesis checks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from streamer.pipeline.states import ProgramState
from streamer.schedule.model import Title
from streamer.vod import VodRecord

EVENT_ID = r"^[a-z0-9][a-z0-9_-]{0,79}$"
ITEM_ID = r"^[a-z0-9][a-z0-9_.-]{0,160}$"
"""Session, broadcast and VOD ids in paths (a VOD id is ``{event}.{session}``)."""

VOD_EXAMPLE: dict[str, Any] = {
    "id": "sejong-smartcity-forum-2021.d1-keynote-1",
    "event_id": "sejong-smartcity-forum-2021",
    "session_id": "d1-keynote-1",
    "broadcast_id": "day1",
    "title": {"ko": "코로나 이후 도시의 미래", "en": "The city after COVID-19"},
    "speakers": [{"name": "Jason Schenker", "affiliation": "Prestige Economics"}],
    "track": "Keynote",
    "language": "en",
    "day": "2021-04-27",
    "start": "2021-04-27T10:00:02+09:00",
    "end": "2021-04-27T10:40:00+09:00",
    "scheduled_start": "2021-04-27T10:00:00+09:00",
    "scheduled_end": "2021-04-27T10:40:00+09:00",
    "duration_s": 2398.0,
    "media_url": "/media/sejong-smartcity-forum-2021/d1-keynote-1.mp4",
    "thumbnail_url": "/media/sejong-smartcity-forum-2021/d1-keynote-1.jpg",
    "size_bytes": 512000000,
    "sha256": "9f2c...",
    "gaps": [],
    "source_url": "https://www.youtube.com/watch?v=XXXXXXXXXXX",
    "published_at": "2021-04-27T11:02:11+09:00",
    "version": 1,
}


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["no VOD 'x.y'"])
    details: Any = None


class ErrorResponse(BaseModel):
    """Every error: a code for programs, a message for people, details where useful."""

    error: ErrorBody


class VodPage(BaseModel):
    """One page of VODs in stable order (start, then id); ``next`` is the following page's
    cursor, ``null`` on the last page."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [VOD_EXAMPLE], "next": None}]}
    )

    items: list[VodRecord]
    next: str | None


class EventSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    title: Title
    timezone: str
    index_url: str | None = None
    count: int = Field(default=0, description="published VODs")
    updated_at: str | None = None


class EventList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "id": "sejong-smartcity-forum-2021",
                            "title": {
                                "ko": "세종 스마트시티 국제포럼",
                                "en": "Sejong Smart City Forum",
                            },
                            "timezone": "Asia/Seoul",
                            "index_url": "/media/sejong-smartcity-forum-2021/index.json",
                            "count": 30,
                            "updated_at": "2021-04-29T19:00:00+09:00",
                        }
                    ],
                    "generated_at": "2021-04-29T19:00:00+09:00",
                }
            ]
        }
    )

    events: list[EventSummary]
    generated_at: str | None = None


class ProgramSession(BaseModel):
    """A session of the program with its state and, once published, its VOD links."""

    model_config = ConfigDict(extra="allow")

    id: str
    state: ProgramState = Field(examples=["published", "upcoming", "live", "ended"])
    reason: str | None = Field(default=None, description="short public message")
    reason_code: str | None = Field(
        default=None, examples=["capture_gap", "source_unavailable", "cut_failed"]
    )
    vod_id: str | None = None
    vod_url: str | None = None
    watch_url: str | None = None
    media_url: str | None = None
    thumbnail_url: str | None = None
    title: Title | None = None
    start: str | None = None
    end: str | None = None
    day: str | None = None


class EventSessions(BaseModel):
    event: dict[str, Any]
    sessions: list[ProgramSession]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(examples=[{"storage": "ok", "database": "ok"}])


class ReloadResult(BaseModel):
    """Session ids by what the reload did to them."""

    model_config = ConfigDict(extra="allow")

    added: list[Any] = []
    changed: list[Any] = []
    removed: list[Any] = []
    kept: list[Any] = []
    errors: list[Any] = []


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route may answer."""
    text = {
        304: "Not modified (If-None-Match matched the ETag)",
        400: "A body that is not JSON (or not UTF-8)",
        413: "Request body over the cap (admin: 1 MiB)",
        401: "Missing or malformed bearer token",
        403: "Wrong token",
        404: "Unknown id",
        409: "Not allowed in the current state",
        422: "Invalid input, with the reasons",
        503: "Storage, orchestrator or admin API unavailable",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        if code == 304:
            out[code] = {"description": text[code]}
        else:
            out[code] = {"model": ErrorResponse, "description": text[code]}
    return out
