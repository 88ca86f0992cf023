"""The website side of a loopback YouTube: watch pages, player responses, channel ``/live``.

yt-dlp's real ``YoutubeIE`` and ``YoutubeTabIE`` parse what this serves; only their network
fetch is pointed at loopback (:meth:`YouTubeSite.ydl_class`). The media (HLS master/media
playlists, segments) is *not* served here: each video takes its ``hlsManifestUrl`` and
adaptive format URLs as parameters, so any loopback media server can stand behind it.

Pages carry ``STS`` and ``PLAYER_JS_URL`` in their ytcfg and formats carry plain ``url``s
with no ``n`` parameter and no ``signatureCipher``, so yt-dlp never needs the player JS or a
JavaScript runtime here.

Time comes from an injected clock; :meth:`YouTubeSite.at` scripts changes (upcoming → live →
ended, ``/live`` moving to a new video, an error screen) that apply when the clock passes them,
so a scenario runs with no wall-clock waits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

CHANNEL_ID = "UCsimulatedchannel000000"
HANDLE = "@sim"
PLAYER_ID = "0a1b2c3d"
YOUTUBE_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com")


class Screen(StrEnum):
    """What a video shows to a viewer right now."""

    UPCOMING = "upcoming"
    LIVE = "live"
    POST_LIVE = "post_live"  # just ended; the DVR is still being processed
    WAS_LIVE = "was_live"
    NOT_LIVE = "not_live"  # a plain upload (or a premiere that finished)
    PRIVATE = "private"
    MEMBERS_ONLY = "members_only"
    AGE_RESTRICTED = "age_restricted"
    GEO_BLOCKED = "geo_blocked"
    REMOVED = "removed"
    BOT_CHECK = "bot_check"
    RATE_LIMITED = "rate_limited"


# (playability status, reason, subreason) of each error screen, as YouTube words them.
ERROR_SCREENS: dict[Screen, tuple[str, str, str]] = {
    Screen.PRIVATE: (
        "LOGIN_REQUIRED",
        "Private video",
        "Sign in if you've been granted access to this video",
    ),
    Screen.MEMBERS_ONLY: (
        "UNPLAYABLE",
        "Join this channel to get access to members-only content like this video, and other "
        "exclusive perks.",
        "",
    ),
    Screen.AGE_RESTRICTED: (
        "LOGIN_REQUIRED",
        "Sign in to confirm your age",
        "This video may be inappropriate for some users.",
    ),
    Screen.GEO_BLOCKED: (
        "UNPLAYABLE",
        "Video unavailable",
        "The uploader has not made this video available in your country",
    ),
    Screen.REMOVED: ("ERROR", "This video has been removed by the uploader", ""),
    Screen.BOT_CHECK: (
        "LOGIN_REQUIRED",
        "Sign in to confirm you’re not a bot",
        "This helps protect our community. Learn more",
    ),
    Screen.RATE_LIMITED: ("UNPLAYABLE", "This content isn't available, try again later.", ""),
}


@dataclass(frozen=True)
class AdaptiveFormat:
    """One ``adaptiveFormats`` entry (a DASH-style URL; the live fragment path)."""

    itag: int
    url: str
    mime: str = 'video/mp4; codecs="avc1.4d401f"'
    width: int | None = 1280
    height: int | None = 720
    bitrate: int = 2_500_000
    fps: int = 30
    # fragment duration while live and post_live (``targetDurationSec``: yt-dlp marks such
    # formats ``is_from_start`` with ``live_from_start``, and ``url&sq=N`` is fragment N)
    target_s: float = 2.0
    audio_rate: int | None = None  # ``audioSampleRate`` of an audio-only format


@dataclass
class Video:
    """One video of the simulated channel; change its fields (or script them) freely."""

    video_id: str
    screen: Screen
    title: str = "Simulated broadcast"
    scheduled_start: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    hls_manifest_url: str | None = None
    adaptive: list[AdaptiveFormat] = field(default_factory=list)
    # called before each answer about this video: a media server behind it refreshes its
    # screen and URLs (they expire, the broadcast ends), as googlevideo's do
    sync: Callable[[Video], None] | None = None


def _offline_slate(video: Video) -> dict[str, Any]:
    """The playability status of an upcoming live stream, with its scheduled start."""
    slate: dict[str, Any] = {"mainText": {"runs": [{"text": "Live in a moment"}]}}
    if video.scheduled_start is not None:
        slate["scheduledStartTime"] = str(int(video.scheduled_start.timestamp()))
    return {
        "status": "LIVE_STREAM_OFFLINE",
        "reason": "This live event will begin in a few moments.",
        "playableInEmbed": True,
        "liveStreamability": {
            "liveStreamabilityRenderer": {
                "videoId": video.video_id,
                "offlineSlate": {"liveStreamOfflineSlateRenderer": slate},
            }
        },
    }


def _adaptive_entry(f: AdaptiveFormat, live: bool) -> dict[str, Any]:
    """One ``streamingData.adaptiveFormats`` entry; ``live``: fragment-addressable."""
    entry: dict[str, Any] = {
        "itag": f.itag,
        "url": f.url,
        "mimeType": f.mime,
        "bitrate": f.bitrate,
    }
    if f.height is not None:
        entry.update(
            width=f.width,
            height=f.height,
            quality="hd720" if f.height >= 720 else "medium",
            qualityLabel=f"{f.height}p",
            fps=f.fps,
        )
    else:
        entry.update(
            quality="tiny",
            audioQuality="AUDIO_QUALITY_MEDIUM",
            audioSampleRate=str(f.audio_rate or 48000),
            audioChannels=2,
        )
    if live:
        entry["targetDurationSec"] = f.target_s
    return entry


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _text(value: str) -> dict[str, Any]:
    return {"simpleText": value}


class YouTubeSite:
    """www.youtube.com on 127.0.0.1. Start with :meth:`start`, stop with :meth:`close`."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.videos: dict[str, Video] = {}
        self.live_video: str | None = None  # what the channel's /live points at
        # Every request answers this HTTP status when set (a blocked IP, an outage).
        self.http_status: int | None = None
        self.requests: Counter[str] = Counter()  # "watch", "player", "live", ...
        self._script: list[tuple[datetime, Callable[[YouTubeSite], None]]] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # ---- scripting ---------------------------------------------------------------------

    def add(self, video: Video, *, on_live: bool = False) -> Video:
        with self._lock:
            self.videos[video.video_id] = video
            if on_live:
                self.live_video = video.video_id
        return video

    def at(self, when: datetime, change: Callable[[YouTubeSite], None]) -> None:
        """Apply ``change(site)`` once the clock reaches ``when``."""
        with self._lock:
            self._script.append((when, change))
            self._script.sort(key=lambda step: step[0])

    def tick(self) -> None:
        """Apply the scripted changes that are due. Every request does; a media server that
        shares the scenario calls it on its requests too."""
        with self._lock:
            moment = self.clock()
            while self._script and self._script[0][0] <= moment:
                _, change = self._script.pop(0)
                change(self)

    # ---- serving -----------------------------------------------------------------------

    def start(self) -> YouTubeSite:
        if self._server is None:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._server = server
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("YouTubeSite not started")
        return int(self._server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> YouTubeSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answer(self, method: str, target: str, body: bytes) -> tuple[int, str, bytes]:
        """One request → (status, content type, body). Paths are youtube.com's."""
        parsed = urllib.parse.urlsplit(target)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query)
        with self._lock:
            self.tick()
            if self.http_status is not None:
                self.requests["refused"] += 1
                return self.http_status, "text/html", b"<html>Too many requests</html>"
            if method == "POST" and path.startswith("/youtubei/v1/"):
                return self._api(path.rsplit("/", 1)[-1], body)
            if path == "/watch" and query.get("v"):
                self.requests["watch"] += 1
                return self._page(self._watch_html(query["v"][0]))
            if path.rstrip("/") in (f"/{HANDLE}/live", f"/channel/{CHANNEL_ID}/live"):
                self.requests["live"] += 1
                if self.live_video is None:
                    return self._page(self._channel_html())
                return self._page(self._watch_html(self.live_video))
            if path == "/iframe_api":
                self.requests["iframe_api"] += 1
                js = f"var scriptUrl = 'https:\\/\\/www.youtube.com\\/s\\/player\\/{PLAYER_ID}\\/';"
                return 200, "text/javascript", js.encode()
        self.requests["other"] += 1
        return 404, "text/html", b"<html>404</html>"

    @staticmethod
    def _page(html: str) -> tuple[int, str, bytes]:
        return 200, "text/html; charset=utf-8", html.encode()

    def _api(self, endpoint: str, body: bytes) -> tuple[int, str, bytes]:
        self.requests[endpoint] += 1
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, "application/json", b'{"error": "bad json"}'
        video_id = str(request.get("videoId") or "")
        if endpoint == "player":
            payload = self.player_response(video_id)
        elif endpoint == "next":
            payload = self._initial_data(video_id)
        else:
            return 404, "application/json", b'{"error": "unknown endpoint"}'
        return 200, "application/json", json.dumps(payload).encode()

    # ---- what YouTube writes -------------------------------------------------------------

    def _ytcfg(self) -> dict[str, Any]:
        return {
            "INNERTUBE_API_KEY": "AIzaSimulated",
            "INNERTUBE_CLIENT_NAME": "WEB",
            "INNERTUBE_CLIENT_VERSION": "2.20260708.00.00",
            "INNERTUBE_CONTEXT": {
                "client": {"clientName": "WEB", "clientVersion": "2.20260708.00.00", "hl": "en"}
            },
            "INNERTUBE_CONTEXT_CLIENT_NAME": 1,
            "VISITOR_DATA": "CgtTaW11bGF0ZWQ%3D",
            "STS": 20400,
            "PLAYER_JS_URL": f"/s/player/{PLAYER_ID}/player_ias.vflset/en_US/base.js",
        }

    def _watch_html(self, video_id: str) -> str:
        pr = self.player_response(video_id)
        data = self._initial_data(video_id)
        return (
            "<!DOCTYPE html><html><head><title>YouTube</title></head><body>"
            f"<script>ytcfg.set({json.dumps(self._ytcfg())});</script>"
            f"<script>var ytInitialPlayerResponse = {json.dumps(pr)};</script>"
            f"<script>var ytInitialData = {json.dumps(data)};</script>"
            "</body></html>"
        )

    def _channel_html(self) -> str:
        """The channel page /live shows when nothing is live: no video, a Home tab."""
        tab = {
            "tabRenderer": {
                "title": "Home",
                "selected": True,
                "endpoint": {
                    "commandMetadata": {"webCommandMetadata": {"url": f"/{HANDLE}/featured"}},
                    "browseEndpoint": {"browseId": CHANNEL_ID},
                },
                "content": {"sectionListRenderer": {"contents": []}},
            }
        }
        data = {
            "contents": {"twoColumnBrowseResultsRenderer": {"tabs": [tab]}},
            "metadata": {
                "channelMetadataRenderer": {
                    "title": "Simulated channel",
                    "externalId": CHANNEL_ID,
                    "vanityChannelUrl": f"http://www.youtube.com/{HANDLE}",
                }
            },
        }
        return (
            "<!DOCTYPE html><html><body>"
            f"<script>ytcfg.set({json.dumps(self._ytcfg())});</script>"
            f"<script>var ytInitialData = {json.dumps(data)};</script></body></html>"
        )

    def _initial_data(self, video_id: str) -> dict[str, Any]:
        return {
            "contents": {"twoColumnWatchNextResults": {"results": {"results": {"contents": []}}}},
            "currentVideoEndpoint": {"watchEndpoint": {"videoId": video_id}},
        }

    def player_response(self, video_id: str) -> dict[str, Any]:
        """The ``/youtubei/v1/player`` answer for a video at the clock's time."""
        video = self.videos.get(video_id)
        if video is not None and video.sync is not None:
            video.sync(video)
        if video is None:
            return {
                "playabilityStatus": {
                    "status": "ERROR",
                    "reason": "This video is unavailable",
                    "errorScreen": {
                        "playerErrorMessageRenderer": {"reason": _text("This video is unavailable")}
                    },
                },
                "videoDetails": {"videoId": video_id},
            }
        if video.screen in ERROR_SCREENS:
            return self._error_response(video)
        screen = video.screen
        details: dict[str, Any] = {
            "videoId": video.video_id,
            "title": video.title,
            "lengthSeconds": "0",
            "channelId": CHANNEL_ID,
            "author": "Simulated channel",
            "shortDescription": "",
            "isLiveContent": screen != Screen.NOT_LIVE,
            "isLive": screen == Screen.LIVE,
        }
        if screen == Screen.UPCOMING:
            details["isUpcoming"] = True
        if screen == Screen.POST_LIVE:
            details["isPostLiveDvr"] = True
        if screen == Screen.NOT_LIVE:
            details["lengthSeconds"] = "600"
        broadcast: dict[str, Any] = {"isLiveNow": screen == Screen.LIVE}
        start = video.started_at or video.scheduled_start
        if start is not None:
            broadcast["startTimestamp"] = _iso(start)
        if video.ended_at is not None and screen in (Screen.POST_LIVE, Screen.WAS_LIVE):
            broadcast["endTimestamp"] = _iso(video.ended_at)
        micro: dict[str, Any] = {
            "title": _text(video.title),
            "externalChannelId": CHANNEL_ID,
            "ownerProfileUrl": f"http://www.youtube.com/{HANDLE}",
            "category": "Education",
            "isFamilySafe": True,
        }
        if screen != Screen.NOT_LIVE:
            micro["liveBroadcastDetails"] = broadcast
        response: dict[str, Any] = {
            "playabilityStatus": {"status": "OK", "playableInEmbed": True},
            "videoDetails": details,
            "microformat": {"playerMicroformatRenderer": micro},
        }
        if screen == Screen.UPCOMING:
            response["playabilityStatus"] = _offline_slate(video)
            return response
        streaming: dict[str, Any] = {"expiresInSeconds": "21540"}
        if video.hls_manifest_url and screen == Screen.LIVE:
            streaming["hlsManifestUrl"] = video.hls_manifest_url
        streaming["adaptiveFormats"] = [
            _adaptive_entry(f, screen in (Screen.LIVE, Screen.POST_LIVE)) for f in video.adaptive
        ]
        response["streamingData"] = streaming
        return response

    def _error_response(self, video: Video) -> dict[str, Any]:
        status, reason, subreason = ERROR_SCREENS[video.screen]
        renderer: dict[str, Any] = {"reason": _text(reason)}
        if subreason:
            renderer["subreason"] = _text(subreason)
        return {
            "playabilityStatus": {
                "status": status,
                "reason": reason,
                "errorScreen": {"playerErrorMessageRenderer": renderer},
            },
            "videoDetails": {"videoId": video.video_id, "title": video.title},
        }

    # ---- the network hook for yt-dlp -----------------------------------------------------

    def loopback_url(self, url: str) -> str:
        """A youtube.com URL → the same path on this server; other URLs are left alone."""
        parts = urllib.parse.urlsplit(url)
        if (parts.hostname or "").lower() in YOUTUBE_HOSTS:
            return urllib.parse.urlunsplit(
                ("http", f"127.0.0.1:{self.port}", parts.path, parts.query, "")
            )
        return url

    def ydl_class(self, policy: Any | None = None) -> type[Any]:
        """A ``yt_dlp.YoutubeDL`` whose requests to youtube.com reach this server instead.

        Pass it to ``Resolver(ydl_class=...)``. Hosts other than youtube.com and loopback
        are refused, so a scenario never reaches the internet. With ``policy`` (a
        :class:`streamer.netguard.Policy`) every rewritten request also passes the resolver's
        SSRF check (as ``guarded_ydl`` does), which refuses 127.0.0.1 unless the policy opts in.
        """
        import yt_dlp
        from yt_dlp.networking.exceptions import RequestError

        site = self

        class LoopbackYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]
            def urlopen(self, req: Any) -> Any:
                from yt_dlp.networking import Request

                if isinstance(req, str):
                    req = Request(req)
                req.url = site.loopback_url(req.url)
                host = urllib.parse.urlsplit(req.url).hostname
                if host not in ("127.0.0.1", "localhost"):
                    raise RequestError(f"loopback YouTube: refusing to fetch {req.url}")
                if policy is not None:
                    policy.check_url(req.url)  # what guarded_ydl checks, after the rewrite
                return super().urlopen(req)

        return LoopbackYoutubeDL


def _handler(site: YouTubeSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, ctype, data = site.answer(method, self.path, body)
            except Exception:  # a broken scenario must not kill the server thread
                log.exception("loopback YouTube failed on %s", self.path)
                status, ctype, data = 500, "text/plain", b"internal error\n"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("loopback YouTube: " + format, *args)

    return Handler


def hls_master(variants: list[tuple[str, int, int]]) -> str:
    """An ``hls_variant`` master playlist: (media playlist URL, width, height) each.

    yt-dlp takes each format's id from ``/itag/N/`` in its URL, as YouTube's carry.
    """
    lines = ["#EXTM3U", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for url, width, height in variants:
        bandwidth = 300_000 * max(1, height // 144)
        lines.append(
            f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS="avc1.4d401f,mp4a.40.2",'
            f"RESOLUTION={width}x{height},FRAME-RATE=30"
        )
        lines.append(url)
    return "\n".join(lines) + "\n"
