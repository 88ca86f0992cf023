"""What a broadcast URL is now: :class:`BroadcastInfo`, read from a yt-dlp info dict."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from streamer.errors import BroadcastUnavailable, ResolveError, SiteRefused
from streamer.youtube.classify import _UNAVAILABLE, classify

LiveStatus = Literal["is_upcoming", "is_live", "was_live", "post_live", "not_live"]
LIVE_STATUSES: tuple[str, ...] = ("is_upcoming", "is_live", "was_live", "post_live", "not_live")
HLS_PROTOCOLS = ("m3u8_native", "m3u8")


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
        refused = classify(source, list(warnings))
        if isinstance(refused, SiteRefused):
            raise refused  # a bot check says "Sign in" too: it is not the video's fault
        reason = next((w for w in warnings if _UNAVAILABLE.search(w)), None)
        if reason is not None:
            raise BroadcastUnavailable(f"{source}: {reason}", kind="unavailable")
        if status is None:
            found = classify(source, list(warnings))
            if found is not None:
                raise found
            detail = f" ({warnings[-1]})" if warnings else ""
            raise ResolveError(f"{source}: yt-dlp found no formats and no live status{detail}")
    if status == "is_live" and chosen is None:
        raise ResolveError(
            f"{source}: live, but yt-dlp offers no muxed HLS format to record",
            kind="no_live_hls",
            hint="YouTube served no live HLS to yt-dlp's clients (some need a PO token); "
            "update yt-dlp, or give cookies",
        )
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
