"""Public, read-only API: the VOD index for the website, with ETags, 304s and gzip."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from streamer.api.deps import ContextDep, SnapshotDep
from streamer.api.errors import ApiError, invalid
from streamer.api.fastpath import raw_key
from streamer.api.httpcache import CachedBody, cached_response
from streamer.api.models import (
    EVENT_ID,
    ITEM_ID,
    EventList,
    EventSessions,
    VodPage,
    errors,
)
from streamer.api.program import event_program
from streamer.api.vodindex import SortKey, VodFilter, decode_cursor, dumps
from streamer.errors import NotFoundError
from streamer.timeutil import now, parse_iso
from streamer.vod import VodRecord

LIST_CACHE = "public, max-age=10, stale-while-revalidate=60"
STATE_CACHE = "public, max-age=5"
MAX_LIMIT = 500

router = APIRouter(prefix="/api/v1", tags=["public"])


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LEAP_SECOND = re.compile(r"(T\d{2}:\d{2}):60")


def _day(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        if not _DAY.match(value):
            raise ValueError(value)
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise invalid("day", f"{value!r} is not a date (YYYY-MM-DD)") from None


def _since(value: str | None) -> datetime | None:
    """ISO 8601 / RFC 3339; without an offset it is UTC; a leap second counts as :59."""
    if value is None:
        return None
    try:
        return parse_iso(_LEAP_SECOND.sub(r"\1:59", value.upper().replace(" ", "T")))
    except ValueError:
        raise invalid(
            "updated_since", f"{value!r} is not an ISO 8601 time (e.g. 2021-04-27T12:00:00+09:00)"
        ) from None


def _cursor(value: str | None) -> SortKey | None:
    if value is None:
        return None
    try:
        return decode_cursor(value)
    except ValueError:
        raise invalid("cursor", "not a cursor from this API (use the 'next' value)") from None


@router.get(
    "/vods",
    response_model=VodPage,
    responses=errors(304, 422, 503),
    summary="List published VODs",
)
async def list_vods(
    request: Request,
    snap: SnapshotDep,
    event: Annotated[
        str | None,
        Query(pattern=EVENT_ID, description="event id", examples=["sejong-smartcity-forum-2021"]),
    ] = None,
    day: Annotated[
        str | None,
        Query(
            max_length=10,
            description="calendar day in the event's time zone (YYYY-MM-DD)",
            examples=["2021-04-27"],
            json_schema_extra={"format": "date"},
        ),
    ] = None,
    track: Annotated[
        str | None,
        Query(max_length=100, description="track, case-insensitive", examples=["Keynote"]),
    ] = None,
    language: Annotated[
        str | None, Query(max_length=35, description="spoken language", examples=["ko"])
    ] = None,
    speaker: Annotated[
        str | None,
        Query(max_length=200, description="part of a speaker's name", examples=["schenker"]),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="words found in titles (ko and en), speakers or track",
            examples=["스마트시티"],
        ),
    ] = None,
    updated_since: Annotated[
        str | None,
        Query(
            max_length=64,
            description="only VODs published or updated at or after this ISO 8601 time",
            examples=["2021-04-27T12:00:00+09:00"],
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=400, description="the `next` value of the previous page")
    ] = None,
) -> Response:
    """Published VODs, filtered, in stable order (start, then id), one page at a time."""
    f = VodFilter.make(
        event=event,
        day=_day(day),
        track=track,
        language=language,
        speaker=speaker,
        q=q,
        updated_since=_since(updated_since),
    )
    page = snap.page(f, limit, _cursor(cursor))
    snap.remember(raw_key(request.scope), "/api/v1/vods", page.cached)
    return cached_response(request, page.cached, cache_control=LIST_CACHE)


@router.get(
    "/vods/{vod_id}",
    response_model=VodRecord,
    responses=errors(304, 404, 422, 503),
    summary="One VOD",
)
async def get_vod(
    request: Request,
    snap: SnapshotDep,
    vod_id: Annotated[
        str,
        Path(pattern=ITEM_ID, examples=["sejong-smartcity-forum-2021.d1-keynote-1"]),
    ],
) -> Response:
    """One published VOD: the same object as in the list."""
    entry = snap.get(vod_id)
    if entry is None:
        raise ApiError(404, "not_found", f"no published VOD {vod_id!r}")
    snap.remember(raw_key(request.scope), "/api/v1/vods/{vod_id}", entry.cached)
    return cached_response(request, entry.cached, cache_control=LIST_CACHE)


@router.get(
    "/events",
    response_model=EventList,
    responses=errors(304, 503),
    summary="List events",
)
async def list_events(request: Request, ctx: ContextDep, snap: SnapshotDep) -> Response:
    """Events with published VODs (from events.json), and the scheduled ones."""
    events: list[dict[str, Any]] = [dict(s) for s in snap.summaries]
    known = {e["id"] for e in events}
    for program in await run_in_threadpool(ctx.programs):
        if program.event.id not in known:
            known.add(program.event.id)
            events.append(
                {
                    "id": program.event.id,
                    "title": dict(program.event.title),
                    "timezone": program.event.timezone,
                    "index_url": None,
                    "count": 0,
                    "updated_at": None,
                }
            )
    body = CachedBody(dumps({"events": events, "generated_at": snap.generated_at}))
    return cached_response(request, body, cache_control=LIST_CACHE)


@router.get(
    "/events/{event_id}/sessions",
    response_model=EventSessions,
    responses=errors(304, 404, 422, 503),
    summary="An event's program with states",
)
async def event_sessions(
    request: Request,
    ctx: ContextDep,
    snap: SnapshotDep,
    event_id: Annotated[str, Path(pattern=EVENT_ID, examples=["sejong-smartcity-forum-2021"])],
) -> Response:
    """The program of an event: each session with its state, reason and VOD links."""
    programs = await run_in_threadpool(ctx.programs)
    control_rows = None
    if ctx.control is not None:
        try:
            control_rows = await run_in_threadpool(ctx.control.sessions, event_id)
        except NotFoundError:
            control_rows = None
    result = event_program(
        event_id, programs=programs, snap=snap, now=now(), control_rows=control_rows
    )
    if result is None:
        raise ApiError(404, "not_found", f"no event {event_id!r}")
    body = CachedBody(dumps({"event": result.event, "sessions": result.sessions}))
    return cached_response(request, body, cache_control=STATE_CACHE)
