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
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from streamer.simulate.youtube_pages import (
    CHANNEL_ID,
    ERROR_SCREENS,
    HANDLE,
    PLAYER_ID,
    AdaptiveFormat,
    Screen,
    Video,
    channel_html,
    initial_data,
    player_response,
    watch_html,
)

__all__ = [
    "CHANNEL_ID",
    "ERROR_SCREENS",
    "HANDLE",
    "PLAYER_ID",
    "YOUTUBE_HOSTS",
    "AdaptiveFormat",
    "Screen",
    "Video",
    "YouTubeSite",
    "hls_master",
]

log = logging.getLogger(__name__)

YOUTUBE_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com")


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
                    return self._page(channel_html())
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
            payload = initial_data(video_id)
        else:
            return 404, "application/json", b'{"error": "unknown endpoint"}'
        return 200, "application/json", json.dumps(payload).encode()

    # ---- what YouTube writes (youtube_pages), for this site's videos at the clock's time ---

    def player_response(self, video_id: str) -> dict[str, Any]:
        """The ``/youtubei/v1/player`` answer for a video at the clock's time."""
        video = self.videos.get(video_id)
        if video is not None and video.sync is not None:
            video.sync(video)
        return player_response(video, video_id)

    def _watch_html(self, video_id: str) -> str:
        return watch_html(self.player_response(video_id), video_id)

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
