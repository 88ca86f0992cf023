"""The viewer: the program page (``/``) and the player page (``/watch/{id}``), server-rendered.

Readable without JavaScript; ``static/viewer.js`` only adds tabs, shortcuts and a copy-link
button. Language: ``?lang=ko|en`` (remembered in a cookie), else ``Accept-Language``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from streamer.api.deps import AppContext, ContextDep, SnapshotDep
from streamer.api.models import ITEM_ID
from streamer.api.program import badge, event_program, event_zone_name
from streamer.api.vodindex import Snapshot
from streamer.errors import NotFoundError
from streamer.timeutil import now, parse_iso

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
LANGS = ("ko", "en")
DEFAULT_LANG = "ko"
COOKIE = "lang"
_ITEM = re.compile(ITEM_ID)

TEXT: dict[str, dict[str, str]] = {
    "ko": {
        "program": "프로그램",
        "days": "날짜",
        "no_sessions": "아직 등록된 세션이 없습니다.",
        "no_events": "아직 행사가 없습니다.",
        "watch": "다시보기",
        "back": "프로그램으로 돌아가기",
        "speakers": "발표자",
        "track": "트랙",
        "language": "언어",
        "duration": "길이",
        "recorded": "녹화 시간",
        "scheduled": "예정 시간",
        "gaps": "녹화가 끊긴 구간이 있습니다",
        "copy_link": "현재 시점 링크 복사",
        "copied": "복사했습니다",
        "download": "MP4 내려받기",
        "link": "이 영상의 링크",
        "not_found": "찾을 수 없습니다",
        "not_found_text": "요청한 영상이 없거나 아직 공개되지 않았습니다.",
        "events": "행사",
        "skip": "본문으로 건너뛰기",
        "shortcuts": "단축키: k 재생/일시정지, j/l 10초 뒤로/앞으로, f 전체 화면",
        "no_video": "이 브라우저는 동영상 재생을 지원하지 않습니다.",
        "minutes": "분",
    },
    "en": {
        "program": "Program",
        "days": "Days",
        "no_sessions": "No sessions yet.",
        "no_events": "No events yet.",
        "watch": "Watch",
        "back": "Back to the program",
        "speakers": "Speakers",
        "track": "Track",
        "language": "Language",
        "duration": "Duration",
        "recorded": "Recorded",
        "scheduled": "Scheduled",
        "gaps": "The recording has gaps",
        "copy_link": "Copy link at the current time",
        "copied": "Copied",
        "download": "Download MP4",
        "link": "Link to this video",
        "not_found": "Not found",
        "not_found_text": "This video does not exist or is not published yet.",
        "events": "Events",
        "skip": "Skip to content",
        "shortcuts": "Shortcuts: k play/pause, j/l back/forward 10 s, f full screen",
        "no_video": "This browser cannot play the video.",
        "minutes": "min",
    },
}
BADGES: dict[str, dict[str, str]] = {
    "ko": {
        "upcoming": "예정",
        "live": "생중계",
        "archived": "다시보기",
        "processing": "처리 중",
        "unavailable": "영상 없음",
    },
    "en": {
        "upcoming": "Upcoming",
        "live": "Live",
        "archived": "Archived",
        "processing": "Processing",
        "unavailable": "Unavailable",
    },
}
_WEEKDAYS = {"ko": "월화수목금토일", "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

router = APIRouter(include_in_schema=False)


def make_templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    return env


def safe_url(value: Any) -> str:
    """Only relative or http(s) URLs reach an ``href``/``src`` (never ``javascript:``)."""
    text = str(value or "")
    if any(c in text for c in "\\\x00\t\n\r"):
        return ""  # browsers read a backslash as a slash: "/\\evil.com" is "//evil.com"
    if text.startswith("/") and not text.startswith("//"):
        return text
    if text.startswith(("https://", "http://")):
        return text
    return ""


def deep_link(site_url: str | None, vod_id: str) -> str:
    """The page's own link: under the configured site URL, else relative (never built from
    the request's ``Host`` header, which the client chooses)."""
    path = f"/watch/{vod_id}"
    return f"{site_url.rstrip('/')}{path}" if site_url else path


def choose_lang(request: Request, lang: str | None) -> str:
    """``?lang=``, then the cookie, then the best of ``Accept-Language``, then Korean."""
    if lang in LANGS:
        return str(lang)
    cookie = request.cookies.get(COOKIE)
    if cookie in LANGS:
        return str(cookie)
    best: tuple[float, int, str] | None = None
    header = request.headers.get("accept-language", "")
    for order, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in LANGS:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if q > 0 and (best is None or (q, -order) > (best[0], -best[1])):
            best = (q, order, code)
    return best[2] if best else DEFAULT_LANG


def pick(title: Any, lang: str) -> tuple[str, str]:
    """(text, its language) of a title in ``lang`` if present, else English, else the first."""
    if isinstance(title, str):
        return title, lang
    if not isinstance(title, Mapping) or not title:
        return "", lang
    for code in (lang, "en", *title.keys()):
        if title.get(code):
            return str(title[code]), str(code)
    return "", lang


def other_title(title: Any, shown_lang: str) -> tuple[str, str] | None:
    """The title in the other language, when there is one and it differs."""
    if not isinstance(title, Mapping):
        return None
    for code, text in title.items():
        if code != shown_lang and text and text != title.get(shown_lang):
            return str(text), str(code)
    return None


def day_label(day: date, lang: str) -> str:
    wd = day.weekday()
    if lang == "ko":
        return f"{day.month}월 {day.day}일 ({_WEEKDAYS['ko'][wd]})"
    return f"{_WEEKDAYS['en'][wd]} {day.day} {_MONTHS[day.month - 1]}"


def _local(value: Any, tz: ZoneInfo) -> datetime | None:
    try:
        return parse_iso(str(value)).astimezone(tz)
    except ValueError:
        return None


def _speakers(value: Any) -> str:
    names = []
    for s in value or []:
        if isinstance(s, Mapping) and s.get("name"):
            aff = s.get("affiliation")
            names.append(f"{s['name']} ({aff})" if aff else str(s["name"]))
    return ", ".join(names)


def _duration(seconds: Any, lang: str) -> str:
    try:
        total = round(float(seconds))
    except (TypeError, ValueError):
        return ""
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _events(ctx: AppContext, snap: Snapshot) -> list[tuple[str, Any]]:
    """(id, title) of every event: the scheduled ones, then the published ones."""
    seen: dict[str, Any] = {}
    for program in ctx.programs():
        seen.setdefault(program.event.id, dict(program.event.title))
    for event in snap.events:
        seen.setdefault(event.id, event.title)
    return list(seen.items())


def _html(
    ctx: AppContext, name: str, context: dict[str, Any], lang: str, status: int = 200
) -> HTMLResponse:
    page = ctx.templates.get_template(name).render(
        lang=lang, t=TEXT[lang], other_lang="en" if lang == "ko" else "ko", **context
    )
    return HTMLResponse(
        page,
        status_code=status,
        headers={"Cache-Control": "no-cache", "Vary": "Accept-Language, Cookie"},
    )


def _remember(response: Response, lang: str | None) -> Response:
    if lang in LANGS:
        response.set_cookie(COOKIE, str(lang), max_age=365 * 86400, samesite="lax")
    return response


@router.get("/", response_class=HTMLResponse, name="viewer")
async def program_page(
    request: Request,
    ctx: ContextDep,
    snap: SnapshotDep,
    event: Annotated[str | None, Query(max_length=80)] = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """The program of an event, by day, with links to the archived sessions."""
    ui = choose_lang(request, lang)
    events = await run_in_threadpool(_events, ctx, snap)
    ids = [e[0] for e in events]
    if event is not None and event not in ids:
        return _remember(_not_found(ctx, ui), lang)
    if not events:
        return _remember(
            _html(ctx, "index.html", {"events": [], "event": None, "days": []}, ui), lang
        )
    current = event or ids[0]
    control_rows = None
    if ctx.control is not None:
        try:
            control_rows = await run_in_threadpool(ctx.control.sessions, current)
        except NotFoundError:
            control_rows = None
    programs = await run_in_threadpool(ctx.programs)
    moment = now()
    prog = event_program(
        current, programs=programs, snap=snap, now=moment, control_rows=control_rows
    )
    assert prog is not None
    tz = ZoneInfo(event_zone_name(prog.timezone))
    days: dict[str, list[dict[str, Any]]] = {}
    for row in prog.sessions:
        start, end = _local(row.get("start"), tz), _local(row.get("end"), tz)
        day = str(row.get("day") or (start.date().isoformat() if start else "unknown"))
        title, title_lang = pick(row.get("title"), ui)
        kind = badge(row, moment)
        days.setdefault(day, []).append(
            {
                "id": row.get("id"),
                "time": f"{start:%H:%M}–{end:%H:%M}" if start and end else "",
                "datetime": start.isoformat() if start else "",
                "title": title,
                "title_lang": title_lang,
                "speakers": _speakers(row.get("speakers")),
                "track": row.get("track") or "",
                "language": row.get("language") or "",
                "badge": kind,
                "badge_label": BADGES[ui][kind],
                "thumbnail_url": row.get("thumbnail_url"),
                "watch_url": row.get("watch_url"),
                "delay": _delay(row, kind, ui, tz),
            }
        )
    today = moment.astimezone(tz).date().isoformat()
    day_list = [
        {
            "id": f"d-{d}",
            "date": d,
            "label": day_label(date.fromisoformat(d), ui) if d != "unknown" else d,
            "sessions": rows,
        }
        for d, rows in sorted(days.items())
    ]
    default_day = today if today in days else (day_list[0]["date"] if day_list else "")
    event_title, event_title_lang = pick(prog.event.get("title"), ui)
    context = {
        "events": [(eid, *pick(title, ui)) for eid, title in events],
        "event": {"id": current, "title": event_title, "title_lang": event_title_lang},
        "timezone": str(tz),
        "days": day_list,
        "default_day": default_day,
    }
    return _remember(_html(ctx, "index.html", context, ui), lang)


def _delay(row: dict[str, Any], kind: str, lang: str, tz: ZoneInfo) -> str:
    """ "running ~7 min late · 10:37–11:17" for a session not yet over on a day that runs
    late or early (the orchestrator's running delay); empty otherwise."""
    label = row.get("delay_label")
    delay_s = row.get("delay_s")
    if kind not in ("upcoming", "live") or not isinstance(label, dict):
        return ""
    if not isinstance(delay_s, int | float) or round(abs(delay_s) / 60) == 0:
        return ""
    text = str(label.get(lang) or label.get("en") or "")
    start, end = _local(row.get("predicted_start"), tz), _local(row.get("predicted_end"), tz)
    return f"{text} · {start:%H:%M}–{end:%H:%M}" if text and start and end else text


def _not_found(ctx: AppContext, lang: str) -> HTMLResponse:
    return _html(ctx, "not_found.html", {}, lang, status=404)


@router.get("/watch/{vod_id}", response_class=HTMLResponse, name="watch")
async def watch_page(
    request: Request,
    ctx: ContextDep,
    snap: SnapshotDep,
    vod_id: str,
    lang: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """One archived session: the player, its title, speakers and times."""
    ui = choose_lang(request, lang)
    entry = snap.get(vod_id) if _ITEM.match(vod_id) else None
    if entry is None:
        return _remember(_not_found(ctx, ui), lang)
    rec = entry.record
    event = snap.event(entry.event_id)
    tz = ZoneInfo(event_zone_name(event.timezone if event else "UTC"))
    title, title_lang = pick(rec.get("title"), ui)
    start, end = _local(rec.get("start"), tz), _local(rec.get("end"), tz)
    s_start = _local(rec.get("scheduled_start"), tz)
    s_end = _local(rec.get("scheduled_end"), tz)
    gaps = []
    for gap in rec.get("gaps") or []:
        g_start, g_end = _local(gap.get("start"), tz), _local(gap.get("end"), tz)
        gaps.append(
            {
                "start": f"{g_start:%H:%M:%S}" if g_start else "",
                "end": f"{g_end:%H:%M:%S}" if g_end else "",
                "duration": _duration(gap.get("duration_s"), ui),
            }
        )
    event_title, event_title_lang = pick(event.title if event else {}, ui)
    day = str(rec.get("day") or (start.date().isoformat() if start else ""))
    context = {
        "vod": rec,
        "title": title,
        "title_lang": title_lang,
        "other": other_title(rec.get("title"), title_lang),
        "speakers": _speakers(rec.get("speakers")),
        "day_label": day_label(date.fromisoformat(day), ui) if day else "",
        "recorded": f"{start:%H:%M:%S}–{end:%H:%M:%S} {start:%Z}" if start and end else "",
        "scheduled": f"{s_start:%H:%M}–{s_end:%H:%M}" if s_start and s_end else "",
        "duration": _duration(rec.get("duration_s"), ui),
        "gaps": gaps,
        "media_url": safe_url(rec.get("media_url")),
        "poster": safe_url(rec.get("thumbnail_url")),
        "deep_link": deep_link(ctx.settings.site_url, entry.id),
        "back_url": f"/?event={entry.event_id}#d-{day}",
        "event": {"id": entry.event_id, "title": event_title, "title_lang": event_title_lang},
    }
    return _remember(_html(ctx, "watch.html", context, ui), lang)
