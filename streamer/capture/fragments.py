"""The source side of a heal: YouTube's adaptive formats, fetched by sequence number.

yt-dlp's YouTube extractor (with ``live_from_start``) marks the adaptive formats of a live or
``post_live`` broadcast ``is_from_start`` with a ``target_duration``; their ``url`` plus
``&sq=N`` is fragment N, and a HEAD of the bare URL carries the newest number in
``X-Head-Seqnum`` (``_live_adaptive_fragments``). For ``was_live`` they are whole files (the
archive). :func:`choose_adaptive` takes H.264 video at the recorded height and AAC audio from
such an info dict; :class:`FragmentFetcher` fetches with bounded concurrency and a request
rate that leaves the live edge its share, and refreshes expired URLs (403) by re-extracting.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from streamer import __version__
from streamer.errors import CaptureError, ResolveError
from streamer.netguard import Policy
from streamer.youtube import expires_from_url

log = logging.getLogger(__name__)

MAX_FRAGMENT_BYTES = 64 * 1024 * 1024
MIN_REFRESH_INTERVAL_S = 3.0
EXPIRY_MARGIN_S = 60.0  # re-extract this long before the URLs expire, as the poller does
ATTEMPTS = 3


class InfoSource(Protocol):
    """Something that gives yt-dlp's info dict for a URL (``Resolver.extract``)."""

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]: ...


class FragmentGone(CaptureError):
    """The source no longer holds (or never held) this fragment."""

    def __init__(self, what: str, status: int) -> None:
        super().__init__(f"{what}: HTTP {status}")
        self.status = status


@dataclass(frozen=True)
class Adaptive:
    live_status: str | None
    video_url: str | None
    audio_url: str | None
    height: int | None
    target_s: float | None  # fragment duration (yt-dlp's target_duration)
    release_time: datetime | None

    @property
    def archive(self) -> bool:
        """Whole files (``was_live``) rather than numbered fragments."""
        return self.live_status == "was_live"

    @property
    def usable(self) -> bool:
        return self.video_url is not None and self.audio_url is not None


def _is_h264(f: dict[str, Any]) -> bool:
    return str(f.get("vcodec") or "").startswith(("avc1", "h264")) and f.get("acodec") == "none"


def _is_aac(f: dict[str, Any]) -> bool:
    return str(f.get("acodec") or "").startswith("mp4a") and f.get("vcodec") == "none"


def choose_adaptive(info: dict[str, Any], height: int | None) -> Adaptive:
    """H.264 video at ``height`` (else the tallest below, else the smallest) and the best AAC."""
    status = info.get("live_status")
    formats = [f for f in info.get("formats") or [] if isinstance(f, dict) and f.get("url")]
    if status in ("is_live", "post_live"):
        # only fragment-addressable formats (yt-dlp drops is_from_start when it made a list)
        formats = [f for f in formats if f.get("is_from_start") or f.get("target_duration")]
    formats = [f for f in formats if not f.get("has_drm")]
    videos = [f for f in formats if _is_h264(f)]
    audios = [f for f in formats if _is_aac(f)]

    def tall(f: dict[str, Any]) -> tuple[float, float]:
        return (float(f.get("height") or 0), float(f.get("tbr") or 0))

    video: dict[str, Any] | None = None
    if videos:
        want = height or max(int(f.get("height") or 0) for f in videos)
        same = [f for f in videos if f.get("height") == want]
        below = [f for f in videos if (f.get("height") or 0) <= want]
        video = max(same or below, key=tall) if same or below else min(videos, key=tall)
    audio = max(audios, key=lambda f: float(f.get("abr") or f.get("tbr") or 0), default=None)
    target = (video or {}).get("target_duration")
    release = info.get("release_timestamp") or info.get("timestamp")
    return Adaptive(
        live_status=str(status) if status else None,
        video_url=str(video["url"]) if video else None,
        audio_url=str(audio["url"]) if audio else None,
        height=int(video["height"]) if video and video.get("height") else None,
        target_s=float(target) if isinstance(target, int | float) and target > 0 else None,
        release_time=datetime.fromtimestamp(release, UTC)
        if isinstance(release, int | float)
        else None,
    )


def with_sq(url: str, sq: int) -> str:
    """``url`` with ``sq=N`` in its query, as yt-dlp's ``update_url_query`` does."""
    return _sq_prefix(url) + str(sq)


@functools.lru_cache(maxsize=16)
def _sq_prefix(url: str) -> str:
    """``url`` re-encoded without ``sq``, ending in ``sq=`` (parsed once per base URL: the
    heal asks for hundreds of fragments of the same one)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode(
        [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "sq"]
    )
    return urllib.parse.urlunsplit(parts._replace(query=f"{query}&sq=" if query else "sq="))


class FragmentFetcher:
    """Fetch fragments of one broadcast; at most ``concurrency`` at once and ``rate`` a second."""

    def __init__(
        self,
        url: str,
        source: InfoSource,
        *,
        height: int | None,
        client: httpx.AsyncClient | None = None,
        concurrency: int = 6,
        rate: float = 120.0,
        policy: Policy | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.url = url
        self.source = source
        self.height = height
        self._client = client
        self._own = client is None
        self._sem = asyncio.Semaphore(max(1, concurrency))
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next_slot = 0.0
        self._slot_lock = asyncio.Lock()
        self._refreshed = 0.0
        self.adaptive: Adaptive | None = None
        self.requests = 0

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(20.0, connect=5.0),
                follow_redirects=True,
                headers={"User-Agent": f"streamer/{__version__}"},
                transport=self.policy.transport(),  # SSRF: every request and redirect hop
            )
        return self._client

    async def close(self) -> None:
        if self._own and self._client is not None:
            await self._client.aclose()
            self._client = None

    def invalidate(self) -> None:
        """Forget the info dict: the next :meth:`current` extracts it again."""
        self.adaptive = None

    def _expiring(self, adaptive: Adaptive) -> bool:
        expires = expires_from_url(adaptive.video_url)
        if expires is None:
            return False
        return (expires - datetime.now(UTC)).total_seconds() < EXPIRY_MARGIN_S

    async def current(self) -> Adaptive:
        """The info dict's formats, extracted only when none is held or its URLs are about
        to expire; a 403 on a fragment re-extracts too (:meth:`_request`). yt-dlp costs
        about a CPU-second per extract, so heals every few seconds must not each run it."""
        if self.adaptive is None or self._expiring(self.adaptive):
            self.adaptive = None
            return await self.refresh(force=True)
        return self.adaptive

    async def refresh(self, force: bool = False) -> Adaptive:
        """(Re-)extract the info dict; not more often than every few seconds."""
        if self.adaptive is not None and not force:
            return self.adaptive
        if (
            self.adaptive is not None
            and time.monotonic() - self._refreshed < MIN_REFRESH_INTERVAL_S
        ):
            return self.adaptive
        self._refreshed = time.monotonic()
        try:
            info = await asyncio.to_thread(
                functools.partial(self.source.extract, self.url, live_from_start=True)
            )
        except ResolveError:
            raise
        except Exception as exc:  # an extractor bug must not end the heal with a traceback
            raise ResolveError(f"{self.url}: {exc}") from exc
        self.adaptive = choose_adaptive(info, self.height)
        return self.adaptive

    async def _pace(self) -> None:
        if self._interval <= 0:
            return
        async with self._slot_lock:
            wait = self._next_slot - time.monotonic()
            self._next_slot = max(self._next_slot, time.monotonic()) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)

    async def _request(self, method: str, kind: str, sq: int | None) -> httpx.Response:
        """One request with 403 → refresh and 5xx/timeouts → retry."""
        last: Exception | None = None
        for attempt in range(ATTEMPTS):
            adaptive = await self.refresh(force=attempt > 0 and isinstance(last, FragmentGone))
            base = adaptive.video_url if kind == "v" else adaptive.audio_url
            if base is None:
                raise CaptureError(f"{self.url}: no {'video' if kind == 'v' else 'audio'} format")
            url = base if sq is None else with_sq(base, sq)
            what = (
                f"{'video' if kind == 'v' else 'audio'} fragment {sq}" if sq is not None else "head"
            )
            async with self._sem:
                await self._pace()
                self.requests += 1
                try:
                    response = await self.client.request(method, url)
                except httpx.HTTPError as exc:
                    last = CaptureError(f"{what}: {type(exc).__name__}")
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
            if response.status_code in (403, 410) and attempt + 1 < ATTEMPTS:
                last = FragmentGone(what, response.status_code)  # expired: refresh, try again
                continue
            if response.status_code >= 500:
                last = CaptureError(f"{what}: HTTP {response.status_code}")
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if response.status_code >= 400:
                raise FragmentGone(what, response.status_code)
            if len(response.content) > MAX_FRAGMENT_BYTES:
                raise CaptureError(f"{what}: larger than {MAX_FRAGMENT_BYTES} bytes")
            return response
        assert last is not None
        raise last

    async def head(self) -> int:
        """The newest fragment number (``X-Head-Seqnum``)."""
        response = await self._request("HEAD", "v", None)
        value = response.headers.get("X-Head-Seqnum", "")
        if not value.lstrip("-").isdigit():
            raise CaptureError(f"{self.url}: no X-Head-Seqnum header on the adaptive format")
        return int(value)

    async def fetch(self, kind: str, sq: int) -> bytes:
        """Fragment ``sq`` of the video (``"v"``) or audio (``"a"``) format."""
        return (await self._request("GET", kind, sq)).content
