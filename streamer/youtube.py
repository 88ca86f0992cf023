"""The resolver: a broadcast URL → what it is now, through yt-dlp's Python API.

It takes a YouTube watch URL, a video id, a channel's ``/live`` URL, or any HLS URL (yt-dlp's
generic extractor). yt-dlp's errors are translated here into ``ResolveError`` (maybe
temporary: network, not live yet) and ``BroadcastUnavailable`` (private, removed, not found).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import shutil
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from streamer.config import Settings
from streamer.errors import BroadcastUnavailable, NotLiveYet, ResolveError, SiteRefused
from streamer.netguard import Policy, guarded_ydl, policy_for

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


# What yt-dlp says when the site refuses us rather than the video: (kind, pattern, hint).
_REFUSALS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "bot_check",
        re.compile(r"confirm you.?re not a bot|captcha|sign in to confirm(?! your age)", re.I),
        "YouTube asks this host to sign in (bot check): give a cookies file "
        "(STREAMER_COOKIES_FILE), make sure a JavaScript runtime is installed, update yt-dlp",
    ),
    (
        "rate_limited",
        re.compile(r"rate.?limit|try again later|HTTP Error 429|too many requests", re.I),
        "YouTube rate-limits this host (for up to an hour): fewer resolves, or cookies",
    ),
)
_EXTRACTION = re.compile(
    r"JavaScript runtime|n challenge|signature|PO Token|Requested format is not available"
    r"|player response|Unable to extract",
    re.I,
)
_EXTRACTION_HINT = (
    "yt-dlp could not read YouTube's answer: update yt-dlp and check its JavaScript runtime "
    "(deno or node)"
)
_NOT_LIVE_YET = re.compile(r"not currently live|will begin|live event will|premieres in", re.I)


def _clean(message: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", message.strip())
    # "ERROR: [extractor] video_id: message (caused by ...)" → "message"
    text = re.sub(r"^(ERROR:\s*|WARNING:\s*)?(\[[^\]]+\]\s*([\w@.-]+:\s)?)?", "", text)
    return re.sub(r"\s*\(caused by .*\)$", "", text, flags=re.DOTALL)


def classify(url: str, messages: list[str]) -> ResolveError | None:
    """The most telling of yt-dlp's messages as our error, or None when none says much.

    A bot check or rate limit often arrives as a warning, followed by a vaguer error such as
    "Requested format is not available": the refusal is the real reason and wins.
    """
    texts = [_clean(m) for m in messages if m.strip()]
    for kind, pattern, hint in _REFUSALS:
        for text in texts:
            if pattern.search(text):
                return SiteRefused(f"{url}: {text}", kind=kind, hint=hint)
    for text in texts:
        if _UNAVAILABLE.search(text):
            return BroadcastUnavailable(f"{url}: {text}", kind="unavailable")
    for text in texts:
        if _NOT_LIVE_YET.search(text):
            return NotLiveYet(f"{url}: {text}", kind="not_live_yet")
    for text in texts:
        if _EXTRACTION.search(text):
            return ResolveError(f"{url}: {text}", kind="extraction", hint=_EXTRACTION_HINT)
    return None


def translate_error(url: str, message: str, warnings: list[str] | None = None) -> ResolveError:
    """A yt-dlp error message (and the warnings before it) → our error, naming the URL."""
    text = _clean(message)
    youtube = "youtube" in message.lower() or "youtu" in url.lower()
    if youtube and re.search(r"HTTP Error (404|410)", text) is not None:
        return BroadcastUnavailable(f"{url}: {text}", kind="unavailable")
    found = classify(url, [*(warnings or []), message])
    if found is not None:
        return found
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


@dataclass(frozen=True)
class ResolverOptions:
    """The few settings the resolver needs, read at the edge (``from_settings``)."""

    max_height: int = 1080
    cookies_file: Path | None = None
    # YouTube needs a JS runtime for its challenges; yt-dlp only enables deno by itself
    js_runtimes: tuple[str, ...] = ("deno", "node")
    socket_timeout: float = 20.0
    # which addresses yt-dlp may fetch (SSRF); None: strict unless the environment opts in
    policy: Policy | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ResolverOptions:
        return cls(
            max_height=settings.max_height,
            cookies_file=settings.cookies_file,
            js_runtimes=tuple(settings.js_runtimes),
            policy=Policy.from_settings(settings),
        )


class Resolver:
    """Resolve broadcast URLs with yt-dlp (blocking: call it from a thread in async code).

    ``ydl_class`` replaces ``yt_dlp.YoutubeDL`` (e.g. one whose network fetch goes to a
    loopback site; the extractors stay yt-dlp's own). ``budget`` limits re-resolves per host
    for every recording that shares this resolver.
    """

    def __init__(
        self,
        options: ResolverOptions | Settings | None = None,
        *,
        ydl_class: type[Any] | None = None,
        budget: ResolveBudget | None = None,
    ) -> None:
        if isinstance(options, Settings):
            options = ResolverOptions.from_settings(options)
        self.options = options or ResolverOptions()
        self.ydl_class = ydl_class
        self.budget = budget or ResolveBudget()

    @property
    def max_height(self) -> int:
        return self.options.max_height

    def _options(self, logger: _Logger) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "quiet": True,
            "no_warnings": False,
            "noprogress": True,
            "skip_download": True,
            "ignore_no_formats_error": True,  # upcoming streams have no formats yet
            "socket_timeout": self.options.socket_timeout,
            "logger": logger,
            "noplaylist": True,
            "extractor_retries": 1,
            "format": "best",
        }
        if self.options.cookies_file is not None:
            opts["cookiefile"] = str(self.options.cookies_file)
        opts["js_runtimes"] = {name: {} for name in self.options.js_runtimes}
        return opts

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        """Run yt-dlp's extractor; errors become ResolveError and its subclasses.

        ``live_from_start`` gives a live broadcast's adaptive formats addressable by fragment
        number (what a heal fetches) instead of its HLS formats."""
        import yt_dlp  # heavy import; only when resolving

        logger = _Logger()
        options = self._options(logger)
        if live_from_start:
            options["live_from_start"] = True
        if self.ydl_class is not None:  # an injected fetch (the loopback site) guards itself
            ydl_class = self.ydl_class
        else:
            policy = self.options.policy or policy_for(None)
            ydl_class = guarded_ydl(yt_dlp.YoutubeDL, policy, url)
        try:
            with ydl_class(options) as ydl:
                info = ydl.extract_info(url, download=False, process=False)
                info = ydl.process_ie_result(info, download=False) if info else info
        except yt_dlp.utils.DownloadError as exc:
            raise translate_error(url, str(exc), logger.warnings) from exc
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
        result = info_from_ytdlp(info, url=url, max_height=self.options.max_height)
        log.debug("resolved %s: %s %s", url, result.live_status, result.manifest_url)
        return result


def host_key(url: str) -> str:
    """The site a URL's resolves load: every YouTube URL counts against one budget."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "youtu.be" or host == "youtube.com" or host.endswith(".youtube.com"):
        return "youtube.com"
    return host or url


class ResolveBudget:
    """At most ``per_host`` re-resolves per ``window_s`` for each host, shared by every
    recording that uses the same resolver: too many make YouTube rate-limit the whole IP."""

    def __init__(
        self,
        per_host: int = 30,
        window_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_host = per_host
        self.window_s = window_s
        self.clock = clock
        self._spent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, url: str) -> float:
        """0 and one resolve spent, or the seconds until the host's budget has room."""
        moment = self.clock()
        with self._lock:
            spent = self._spent.setdefault(host_key(url), deque())
            while spent and moment - spent[0] >= self.window_s:
                spent.popleft()
            if len(spent) >= self.per_host:
                return self.window_s - (moment - spent[0])
            spent.append(moment)
            return 0.0


def resolve_backoff(failures: int, base_s: float = 3.0, cap_s: float = 300.0) -> float:
    """Seconds before the next re-resolve after ``failures`` that did not help: exponential,
    capped, with jitter (so many recordings do not resolve in step)."""
    if failures <= 0:
        return base_s
    return float(min(cap_s, base_s * 2 ** min(failures, 16)) * random.uniform(0.8, 1.2))


YTDLP_MAX_AGE_DAYS = 60


def ytdlp_environment(js_runtimes: tuple[str, ...] = ("deno", "node")) -> dict[str, Any]:
    """yt-dlp's version and age and the JavaScript runtime found, for ``status``."""
    try:
        from yt_dlp.version import __version__ as version
    except ImportError:
        return {"version": None, "warning": "yt-dlp is not installed"}
    runtime = next((name for name in js_runtimes if shutil.which(name)), None)
    env: dict[str, Any] = {"version": version, "js_runtime": runtime, "age_days": None}
    warnings = []
    if runtime is not None:
        found, minimum = _runtime_version(runtime)
        env["js_runtime_version"] = found
        if found is not None and minimum is not None:
            warnings.append(f"{runtime} {found} is older than yt-dlp supports ({minimum}+)")
    match = re.match(r"(\d{4})\.(\d{1,2})\.(\d{1,2})", version)
    if match:
        year, month, day = (int(g) for g in match.groups())
        released = datetime(year, month, day, tzinfo=UTC)
        env["age_days"] = (datetime.now(UTC) - released).days
        if env["age_days"] > YTDLP_MAX_AGE_DAYS:
            warnings.append(f"yt-dlp {version} is {env['age_days']} days old: update it")
    if runtime is None:
        warnings.append(f"no JavaScript runtime ({', '.join(js_runtimes)}) found for YouTube")
    env["warning"] = "; ".join(warnings) or None
    return env


def _runtime_version(name: str) -> tuple[str | None, str | None]:
    """The runtime's version, and yt-dlp's minimum when that version is below it (yt-dlp
    refuses such a runtime for YouTube's challenges, e.g. Node 20). yt-dlp's own check, so
    the minimum follows its release; its module is private, so a change there yields None."""
    try:
        from yt_dlp.utils import _jsruntime
    except ImportError:
        return None, None
    classes: dict[str, Any] = {
        "deno": getattr(_jsruntime, "DenoJsRuntime", None),
        "node": getattr(_jsruntime, "NodeJsRuntime", None),
        "bun": getattr(_jsruntime, "BunJsRuntime", None),
        "quickjs": getattr(_jsruntime, "QuickJsRuntime", None),
    }
    cls = classes.get(name)
    try:
        info = cls().info if cls is not None else None
    except Exception:  # a private API: never let it break status
        return None, None
    if info is None:
        return None, None
    minimum = getattr(cls, "MIN_SUPPORTED_VERSION", None)
    low = None if info.supported or minimum is None else ".".join(map(str, minimum))
    return str(info.version), low


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
