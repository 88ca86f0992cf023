"""The resolver: a broadcast URL → what it is now, through yt-dlp's Python API.

It takes a YouTube watch URL, a video id, a channel's ``/live`` URL, or any HLS URL (yt-dlp's
generic extractor). yt-dlp's errors are translated here into ``ResolveError`` (maybe
temporary: network, not live yet) and ``BroadcastUnavailable`` (private, removed, not found).
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from streamer.config import Settings
from streamer.errors import BroadcastUnavailable, ResolveError

log = logging.getLogger(__name__)

LiveStatus = Literal["is_upcoming", "is_live", "was_live", "post_live", "not_live"]
LIVE_STATUSES: tuple[str, ...] = ("is_upcoming", "is_live", "was_live", "post_live", "not_live")
HLS_PROTOCOLS = ("m3u8_native", "m3u8")

# yt-dlp messages that mean the video will not become available by waiting.
_UNAVAILABLE = re.compile(
    r"private video|video unavailable|has been removed|account associated with this video"
    r"|this video is no longer available|video does not exist|not available anymore"
    r"|members[- ]only|join this channel|removed by the uploader|account has been terminated"
    r"|confirm your age|removed for violating|copyright claim",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BroadcastInfo:
    """What a broadcast URL is right now."""

    url: str
    video_id: str | None
    title: str | None
    live_status: LiveStatus | None
    release_time: datetime | None = None
    manifest_url: str | None = None  # the chosen HLS media (or master) playlist
    expires_at: datetime | None = None
    extractor: str = "generic"
    format_id: str | None = None
    height: int | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_live(self) -> bool:
        return self.live_status == "is_live" and self.manifest_url is not None

    @property
    def is_upcoming(self) -> bool:
        return self.live_status == "is_upcoming"

    @property
    def has_ended(self) -> bool:
        """The broadcast is over (or never was a live one)."""
        return self.live_status in ("was_live", "post_live", "not_live")

    @property
    def is_generic(self) -> bool:
        """A plain HLS URL rather than a site yt-dlp knows."""
        return self.extractor == "generic"


class ResolverLike(Protocol):
    def resolve(self, url: str) -> BroadcastInfo: ...


def expires_from_url(url: str | None) -> datetime | None:
    """The googlevideo ``expire`` time in a manifest URL (query or ``/expire/N/`` path)."""
    if not url:
        return None
    parsed = urllib.parse.urlparse(url)
    values = urllib.parse.parse_qs(parsed.query).get("expire")
    value = values[0] if values else None
    if value is None:
        match = re.search(r"/expire/(\d+)(?:/|$)", parsed.path)
        value = match.group(1) if match else None
    if value is None or not value.isdigit():
        return None
    return datetime.fromtimestamp(int(value), UTC)


def choose_format(formats: list[dict[str, Any]], max_height: int) -> dict[str, Any] | None:
    """The best muxed HLS format no taller than ``max_height`` (else the smallest one)."""
    hls = [
        f
        for f in formats
        if f.get("protocol") in HLS_PROTOCOLS and f.get("url") and not f.get("has_drm")
    ]
    # Audio-only or video-only renditions cannot be recorded alone; unknown codecs may be muxed.
    muxed = [f for f in hls if f.get("vcodec") != "none" and f.get("acodec") != "none"]
    if not muxed:
        return None

    def key(f: dict[str, Any]) -> tuple[float, float]:
        return (float(f.get("height") or 0), float(f.get("tbr") or 0))

    fitting = [f for f in muxed if (f.get("height") or 0) <= max_height]
    if fitting:
        return max(fitting, key=key)
    return min(muxed, key=key)


def _release_time(info: dict[str, Any]) -> datetime | None:
    for name in ("release_timestamp", "timestamp"):
        value = info.get(name)
        if isinstance(value, int | float) and value > 0:
            return datetime.fromtimestamp(value, UTC)
    return None


def info_from_ytdlp(
    info: dict[str, Any], *, url: str | None = None, max_height: int = 1080
) -> BroadcastInfo:
    """Turn a yt-dlp info dict into :class:`BroadcastInfo` (pure; testable without network)."""
    source = url or info.get("webpage_url") or info.get("original_url") or "?"
    formats = [f for f in info.get("formats") or [] if isinstance(f, dict)]
    raw_status = info.get("live_status")
    status: LiveStatus | None = raw_status if raw_status in LIVE_STATUSES else None
    if status is None and info.get("is_live") is True:
        status = "is_live"
    extractor = str(info.get("extractor_key") or info.get("extractor") or "generic").lower()
    warnings = tuple(str(w) for w in info.get("_streamer_warnings") or ())
    chosen = choose_format(formats, max_height)
    if extractor == "generic" and status is None and chosen is not None:
        # yt-dlp leaves live_status unset when the playlist has ENDLIST: a finished stream.
        status = "not_live" if info.get("duration") else None
    availability = info.get("availability")
    if not formats and status not in ("is_upcoming",):
        if availability in ("private", "needs_auth", "subscriber_only", "premium_only"):
            raise BroadcastUnavailable(f"{source}: the video is {availability.replace('_', ' ')}")
        reason = next((w for w in warnings if _UNAVAILABLE.search(w)), None)
        if reason is not None:
            raise BroadcastUnavailable(f"{source}: {reason}")
        if status is None:
            detail = f" ({warnings[-1]})" if warnings else ""
            raise ResolveError(f"{source}: yt-dlp found no formats and no live status{detail}")
    if status == "is_live" and chosen is None:
        raise ResolveError(f"{source}: live, but yt-dlp offers no muxed HLS format to record")
    manifest = chosen.get("url") if chosen else None
    height = chosen.get("height") if chosen else None
    return BroadcastInfo(
        url=source,
        video_id=str(info["id"]) if info.get("id") is not None else None,
        title=info.get("title") or info.get("fulltitle"),
        live_status=status,
        release_time=_release_time(info),
        manifest_url=str(manifest) if manifest else None,
        expires_at=expires_from_url(str(manifest) if manifest else None),
        extractor=extractor,
        format_id=str(chosen.get("format_id")) if chosen and chosen.get("format_id") else None,
        height=int(height) if isinstance(height, int | float) else None,
        warnings=warnings,
    )


def translate_error(url: str, message: str) -> ResolveError:
    """A yt-dlp error message → our error, naming the URL."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", message.strip())
    # "ERROR: [extractor] video_id: message (caused by ...)" → "message"
    text = re.sub(r"^(ERROR:\s*)?(\[[^\]]+\]\s*(\S+:\s)?)?", "", text)
    text = re.sub(r"\s*\(caused by .*\)$", "", text, flags=re.DOTALL)
    youtube = "youtube" in message.lower() or "youtu" in url.lower()
    gone = youtube and re.search(r"HTTP Error (404|410)", text) is not None
    if _UNAVAILABLE.search(text) or gone:
        return BroadcastUnavailable(f"{url}: {text}")
    if "Unsupported URL" in text:
        return ResolveError(f"{url}: not a broadcast or HLS stream yt-dlp can read ({text})")
    return ResolveError(f"{url}: {text}")


class _Logger:
    """Collects yt-dlp's warnings (upcoming/private reasons arrive as warnings)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        self.warnings.append(re.sub(r"^(\[[^\]]+\]\s*)?", "", msg))

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)


class Resolver:
    """Resolve broadcast URLs with yt-dlp (blocking: call it from a thread in async code)."""

    def __init__(self, settings: Settings | None = None, *, socket_timeout: float = 20.0) -> None:
        self.settings = settings or Settings()
        self.socket_timeout = socket_timeout

    def _options(self, logger: _Logger) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "quiet": True,
            "no_warnings": False,
            "noprogress": True,
            "skip_download": True,
            "ignore_no_formats_error": True,  # upcoming streams have no formats yet
            "socket_timeout": self.socket_timeout,
            "logger": logger,
            "noplaylist": True,
            "extractor_retries": 1,
            "format": "best",
        }
        if self.settings.cookies_file is not None:
            opts["cookiefile"] = str(self.settings.cookies_file)
        # YouTube needs a JS runtime for its challenges; yt-dlp only enables deno by itself
        opts["js_runtimes"] = {name: {} for name in self.settings.js_runtimes}
        return opts

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        """Run yt-dlp's extractor; errors become ResolveError/BroadcastUnavailable.

        ``live_from_start`` gives a live broadcast's adaptive formats addressable by fragment
        number (what a heal fetches) instead of its HLS formats."""
        import yt_dlp  # heavy import; only when resolving

        logger = _Logger()
        options = self._options(logger)
        if live_from_start:
            options["live_from_start"] = True
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                info = ydl.extract_info(url, download=False, process=False)
                info = ydl.process_ie_result(info, download=False) if info else info
        except yt_dlp.utils.DownloadError as exc:
            raise translate_error(url, str(exc)) from exc
        except (yt_dlp.utils.YoutubeDLError, OSError, ValueError) as exc:
            raise ResolveError(f"{url}: {exc}") from exc
        if not isinstance(info, dict):
            raise ResolveError(f"{url}: yt-dlp returned nothing")
        if info.get("_type") == "playlist":
            entries = [e for e in info.get("entries") or [] if isinstance(e, dict)]
            if len(entries) != 1:
                raise ResolveError(f"{url}: a playlist of {len(entries)} videos, not a broadcast")
            info = entries[0]
        info["_streamer_warnings"] = logger.warnings
        return info

    def resolve(self, url: str) -> BroadcastInfo:
        """URL → :class:`BroadcastInfo`; never reports a finished (ENDLIST) stream as live."""
        info = self.extract(url)
        result = info_from_ytdlp(info, url=url, max_height=self.settings.max_height)
        log.debug("resolved %s: %s %s", url, result.live_status, result.manifest_url)
        return result


RESOLVE_TIMEOUT_S = 120.0


async def resolve_async(
    resolver: ResolverLike, url: str, timeout: float = RESOLVE_TIMEOUT_S
) -> BroadcastInfo:
    """``resolver.resolve`` in a thread, bounded: yt-dlp's JS challenge solver can hang with
    no timeout of its own. The thread is left to finish; the caller goes on."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(resolver.resolve, url), timeout)
    except TimeoutError:
        raise ResolveError(f"{url}: resolving took longer than {timeout:.0f}s") from None
