"""The media side of a YouTube live broadcast, on loopback (issue 11).

The broadcast, encoded once and cut into HLS segments and DASH fragments
(:mod:`streamer.simulate.youtube_content`), is served the way googlevideo answers:

* an HLS variant and media playlist that list only the last ``window_s`` seconds, with
  ``/playlist_duration/30/`` and ``/expire/E/`` in the URLs and ``/sq/N/`` segment URLs;
* the adaptive formats at ``/videoplayback?expire=E&itag=I&...``: a HEAD or GET of the bare
  URL gives the ``X-Head-Seqnum`` header, ``&sq=N`` a self-initialising fMP4 fragment with
  YouTube's metadata lines (``Sequence-Number``, ``Ingestion-Walltime-Us``, ...);
* every URL answers 403 after its ``expire`` time;
* after :meth:`end` the fragments stay (``post_live``) until :meth:`publish_archive`, then
  the processed archive (``was_live``) is served as whole files with range requests.

The broadcast's clock is injectable (``clock``), so tests jump it forward instead of
waiting. :meth:`forget` drops a range from the DVR; ``hls_offset`` numbers HLS differently
from DASH, as YouTube may. :meth:`ytdlp_info` gives the info dict yt-dlp's YouTube extractor
produces for this broadcast (``is_live`` with ``live_from_start``, ``post_live``, ``was_live``).
"""

from __future__ import annotations

import contextlib
import math
import re
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from streamer import procs
from streamer.simulate.youtube_content import Content, prepare

__all__ = [
    "AUDIO_ITAG",
    "DVR_S",
    "HLS_ITAG",
    "URL_TTL_S",
    "VIDEO_ID",
    "VIDEO_ITAG",
    "Content",
    "YouTubeMedia",
    "prepare",
]

VIDEO_ID = "simLive0001"
HLS_ITAG = 91  # YouTube's 144p live HLS rendition
VIDEO_ITAG = 160  # 144p H.264 video-only
AUDIO_ITAG = 140  # AAC audio-only (m4a)
URL_TTL_S = 6 * 3600.0  # googlevideo URLs live about six hours
DVR_S = 120 * 3600.0
_SEG = re.compile(
    r"/videoplayback/id/([\w.-]+)/itag/(\d+)/.*?/expire/(\d+)/.*?/sq/(\d+)/file/seg\.ts"
)
_MANIFEST = re.compile(r"/api/manifest/(hls_variant|hls_playlist)/expire/(\d+)/.*index\.m3u8")


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


class YouTubeMedia:
    """googlevideo on 127.0.0.1 for one live broadcast; see the module docstring."""

    def __init__(
        self,
        content: Content,
        *,
        started_at: float | None = None,
        clock: Callable[[], float] = time.time,
        window_s: float = 30.0,
        hls_offset: int = 0,
        url_ttl_s: float = URL_TTL_S,
        dvr_s: float = DVR_S,
        archive_short_s: float = 0.0,
        video_id: str = VIDEO_ID,
    ) -> None:
        self.content = content
        self.clock = clock
        self.started_at = clock() if started_at is None else started_at
        self.window_s = window_s
        self.hls_offset = hls_offset  # HLS sequence number = DASH sq + hls_offset
        self.url_ttl_s = url_ttl_s
        self.dvr_s = dvr_s
        self.archive_short_s = archive_short_s
        self.video_id = video_id
        self.ended_at: float | None = None
        self.archived = False
        self.forgotten: set[int] = set()
        self.outage_until = 0.0  # every request fails (503) before then: the demo's outage
        self.requests: dict[str, int] = {"playlist": 0, "segment": 0, "fragment": 0, "head": 0}
        self.fault: Callable[[str, int], tuple[int, bytes] | None] | None = None
        # CPU seconds its server threads spent answering: a benchmark in the same process
        # subtracts them from the client's cost
        self.serve_cpu_s = 0.0
        self.cpu_lock = threading.Lock()
        self._lock = threading.Lock()
        self._inits = {k: content.init(k).read_bytes() for k in ("v", "a")}
        self._server: ThreadingHTTPServer | None = None

    # ---- the broadcast's state ------------------------------------------------------------

    @property
    def segment_s(self) -> float:
        return self.content.segment_s

    def head_sq(self) -> int:
        """The newest complete DASH fragment (-1 before the first)."""
        until = self.clock() if self.ended_at is None else min(self.clock(), self.ended_at)
        newest = math.floor((until - self.started_at) / self.segment_s + 1e-9) - 1
        return min(newest, self.content.count - 1)

    def wall(self, sq: int) -> float:
        """Wall-clock time (epoch s) of fragment ``sq``'s first frame."""
        return self.started_at + sq * self.segment_s

    @property
    def live_status(self) -> str:
        if self.ended_at is None or self.clock() < self.ended_at:
            return "is_live"
        return "was_live" if self.archived else "post_live"

    def end(self) -> None:
        """The broadcast ends now: ENDLIST, then post_live fragments."""
        with self._lock:
            edge = self.started_at + (self.head_sq() + 1) * self.segment_s
            self.ended_at = min(self.clock(), edge)

    def publish_archive(self) -> None:
        """YouTube finished processing: the archive replaces the fragments (``was_live``)."""
        if self.ended_at is None:
            self.end()
        length = (self.head_sq() + 1) * self.segment_s - self.archive_short_s
        ff = [procs.ffmpeg(), "-hide_banner", "-v", "error", "-nostdin", "-y"]
        for kind, stream in (("v", "0:v"), ("a", "0:a")):
            out = self._archive_path(kind)
            procs.run(
                [*ff, "-i", str(self.content.source), "-map", stream, "-c", "copy",
                 "-t", f"{max(length, 0.1):.3f}", "-movflags", "+faststart", "-f", "mp4",
                 str(out)],
                timeout=600,
            )  # fmt: skip
        self.archived = True

    def forget(self, first_sq: int, last_sq: int) -> None:
        """The DVR no longer holds fragments ``first_sq..last_sq`` (they answer 404)."""
        self.forgotten.update(range(first_sq, last_sq + 1))

    def _archive_path(self, kind: str) -> Path:
        return self.content.root.parent / f"archive-{self.video_id}-{id(self)}-{kind}.mp4"

    # ---- URLs -----------------------------------------------------------------------------

    @property
    def base(self) -> str:
        if self._server is None:
            raise RuntimeError("YouTubeMedia not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def expire(self) -> int:
        return int(self.clock() + self.url_ttl_s)

    def master_url(self, expire: int | None = None) -> str:
        e = self.expire() if expire is None else expire
        return (
            f"{self.base}/api/manifest/hls_variant/expire/{e}/ei/sim/id/{self.video_id}.1"
            "/source/yt_live_broadcast/playlist_duration/30/manifest_duration/30/file/index.m3u8"
        )

    def hls_url(self, expire: int | None = None) -> str:
        e = self.expire() if expire is None else expire
        return (
            f"{self.base}/api/manifest/hls_playlist/expire/{e}/ei/sim/id/{self.video_id}.1"
            f"/itag/{HLS_ITAG}/source/yt_live_broadcast/playlist_type/DVR"
            "/playlist_duration/30/manifest_duration/30/file/index.m3u8"
        )

    def adaptive_url(self, itag: int, expire: int | None = None) -> str:
        e = self.expire() if expire is None else expire
        live = self.live_status != "was_live"
        mime = "video%2Fmp4" if itag == VIDEO_ITAG else "audio%2Fmp4"
        source = "yt_live_broadcast" if live else "youtube"
        extra = "&live=1&noclen=1" if live else ""
        return (
            f"{self.base}/videoplayback?expire={e}&ei=sim&id={self.video_id}.1&itag={itag}"
            f"&source={source}&requiressl=yes&mime={mime}{extra}&sig=sim"
        )

    def _segment_url(self, seq: int, expire: int) -> str:
        return (
            f"{self.base}/videoplayback/id/{self.video_id}.1/itag/{HLS_ITAG}"
            f"/source/yt_live_broadcast/expire/{expire}/playlist_duration/30"
            f"/sq/{seq}/file/seg.ts"
        )

    # ---- answers --------------------------------------------------------------------------

    def playlist(self, expire: int) -> str:
        head = self.head_sq()
        span = max(1, round(self.window_s / self.segment_s))
        first = max(0, head - span + 1)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{math.ceil(self.segment_s)}",
            f"#EXT-X-MEDIA-SEQUENCE:{first + self.hls_offset}",
        ]
        for sq in range(first, head + 1):
            pdt = datetime.fromtimestamp(self.wall(sq), UTC)
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt.isoformat(timespec='milliseconds')}")
            lines.append(f"#EXTINF:{self.segment_s:.3f},")
            lines.append(self._segment_url(sq + self.hls_offset, expire))
        if self.ended_at is not None and self.clock() >= self.ended_at:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def master(self, expire: int) -> str:
        c = self.content
        return (
            "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
            f'#EXT-X-STREAM-INF:BANDWIDTH=150000,CODECS="avc1.4d400c,mp4a.40.2",'
            f"RESOLUTION={c.width}x{c.height},FRAME-RATE={c.fps}\n{self.hls_url(expire)}\n"
        )

    def fragment(self, kind: str, sq: int) -> bytes:
        """A self-initialising fragment with YouTube's metadata lines before the moof."""
        wall_us = round(self.wall(sq) * 1e6)
        lines = (
            f"Sequence-Number: {sq}\r\nIngestion-Walltime-Us: {wall_us}\r\n"
            f"Ingestion-Uncertainty-Us: 80\r\n"
            f"Stream-Duration-Us: {round(sq * self.segment_s * 1e6)}\r\n"
            f"Max-Dvr-Duration-Us: {round(self.dvr_s * 1e6)}\r\n"
            f"Target-Duration-Us: {round(self.segment_s * 1e6)}\r\n"
            f"First-Frame-Time-Us: {wall_us}\r\nFirst-Frame-Uncertainty-Us: 80\r\n"
        ).encode()
        emsg = _box(b"emsg", b"\0\0\0\0urn:youtube:live\0\0" + b"\0" * 16 + lines)
        return self._inits[kind] + emsg + self.content.fragment(kind, sq).read_bytes()

    def _fragment_answer(
        self, query: dict[str, str], head_only: bool
    ) -> tuple[int, dict[str, str], bytes]:
        itag = int(query.get("itag", "0"))
        kind = {VIDEO_ITAG: "v", AUDIO_ITAG: "a"}.get(itag)
        if kind is None:
            return 404, {}, b"no such itag\n"
        if self.live_status == "was_live":
            return 404, {}, b"the live fragments are gone; the archive is served\n"
        head = self.head_sq()
        headers = {
            "X-Head-Seqnum": str(head),
            "X-Head-Time-Millis": str(round(head * self.segment_s * 1000)),
        }
        if "sq" not in query or head_only:
            return 200, headers, b""
        sq = int(query["sq"])
        headers["X-Sequence-Num"] = str(sq)
        oldest = head - math.floor(self.dvr_s / self.segment_s)
        if sq > head or sq < max(0, oldest) or sq in self.forgotten:
            return 404, headers, b""
        if self.fault is not None:
            injected = self.fault(kind, sq)
            if injected is not None:
                return injected[0], headers, injected[1]
        self.requests["fragment"] += 1
        return 200, headers, self.fragment(kind, sq)

    def answer(
        self, method: str, target: str, range_header: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request."""
        if self.clock() < self.outage_until:
            return 503, {}, b"unreachable\n"
        parsed = urllib.parse.urlsplit(target)
        path = parsed.path
        query = dict(urllib.parse.parse_qsl(parsed.query))
        expire = query.get("expire")
        if expire is None:
            found = re.search(r"/expire/(\d+)/", path)
            expire = found.group(1) if found else None
        if expire is None or not expire.isdigit():
            return 404, {}, b"not found\n"
        if self.clock() > int(expire):
            return 403, {}, b"URL expired\n"
        if (manifest := _MANIFEST.fullmatch(path)) is not None:
            self.requests["playlist"] += 1
            text = (
                self.master(int(expire))
                if manifest.group(1) == "hls_variant"
                else self.playlist(int(expire))
            )
            return 200, {"Content-Type": "application/vnd.apple.mpegurl"}, text.encode()
        if (seg := _SEG.fullmatch(path)) is not None:
            sq = int(seg.group(4)) - self.hls_offset
            head = self.head_sq()
            if sq > head or sq < head - round(self.window_s / self.segment_s) - 2 or sq < 0:
                return 404, {}, b""
            self.requests["segment"] += 1
            return 200, {"Content-Type": "video/mp2t"}, self.content.ts(sq).read_bytes()
        if path == "/videoplayback":
            if query.get("source") == "youtube":
                return self._archive_answer(query, range_header)
            if "sq" not in query:
                self.requests["head"] += 1
            return self._fragment_answer(query, method == "HEAD")
        return 404, {}, b"not found\n"

    def _archive_answer(
        self, query: dict[str, str], range_header: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        kind = {VIDEO_ITAG: "v", AUDIO_ITAG: "a"}.get(int(query.get("itag", "0")))
        if kind is None or not self.archived:
            return 404, {}, b""
        data = self._archive_path(kind).read_bytes()
        ctype = "video/mp4" if kind == "v" else "audio/mp4"
        headers = {"Content-Type": ctype, "Accept-Ranges": "bytes"}
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header or "")
        if match is None:
            return 200, headers, data
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else len(data) - 1
        if first >= len(data):
            return 416, {"Content-Range": f"bytes */{len(data)}"}, b""
        last = min(last, len(data) - 1)
        headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
        return 206, headers, data[first : last + 1]

    # ---- the server ---------------------------------------------------------------------

    def start(self) -> YouTubeMedia:
        if self._server is None:
            media = self

            class Handler(_Handler):
                owner = media

            self._server = _Server(("127.0.0.1", 0), Handler)
            threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for kind in ("v", "a"):
            with contextlib.suppress(FileNotFoundError):
                self._archive_path(kind).unlink()

    def __enter__(self) -> YouTubeMedia:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up are normal here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: YouTubeMedia

    def handle_one_request(self) -> None:
        started = time.thread_time()
        try:
            super().handle_one_request()
        finally:
            spent = time.thread_time() - started
            with self.owner.cpu_lock:
                self.owner.serve_cpu_s += spent

    def _serve(self, method: str) -> None:
        try:
            status, headers, body = self.owner.answer(method, self.path, self.headers.get("Range"))
        except Exception:  # a broken answer must not kill the server thread
            status, headers, body = 500, {}, b"internal error\n"
        self.send_response(status)
        headers.setdefault("Content-Type", "application/octet-stream")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if method != "HEAD":
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def log_message(self, format: str, *args: Any) -> None:
        pass
