"""A live broadcast on loopback, for tests, the demo and benchmarks.

:class:`SimulatedBroadcast` runs ffmpeg ``-re`` from a lavfi test pattern (burned-in wall
clock and frame counter when a font is found) and a tone, writing HLS with
EXT-X-PROGRAM-DATE-TIME and epoch numbering, served by a small threaded HTTP server on
127.0.0.1. It can stop (ENDLIST), die (stale playlist), pause and restart with a sequence
reset, which are the faults a recorder must survive.

:class:`ReplayServer` serves pre-encoded segments in a sliding live window computed from the
wall clock, so dozens of live streams cost no encoding.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import ffmpeg

from streamer import procs

log = logging.getLogger(__name__)

M3U8_TYPE = "application/vnd.apple.mpegurl"
TS_TYPE = "video/mp2t"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeMono.ttf",
)

# A route answers (status, content type, body); None means 404.
Response = tuple[int, str, bytes]
Route = Callable[[str], Response | None]


def find_font() -> str | None:
    """A TrueType font for drawtext (Debian: fonts-dejavu-core), or None."""
    for path in FONT_CANDIDATES:
        if Path(path).is_file():
            return path
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            answer = self.server.route(path)
        except Exception:  # a broken route must not kill the server thread
            log.exception("simulated server route failed for %s", path)
            answer = (500, "text/plain", b"internal error\n")
        if answer is None:
            answer = (404, "text/plain", b"not found\n")
        status, ctype, body = answer
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many recorders connect at once in the benchmarks
    route: Route

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (a stopped recorder) are normal here, not worth a traceback.
        log.debug("simulated server: client %s went away", client_address)


class HttpServer:
    """A threaded HTTP server on 127.0.0.1 that answers GETs through ``route(path)``."""

    def __init__(self, route: Route, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.route = route
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _file_response(path: Path) -> Response | None:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    ctype = M3U8_TYPE if path.suffix == ".m3u8" else TS_TYPE
    return (200, ctype, data)


class SimulatedBroadcast:
    """ffmpeg → HLS on loopback. Use as a context manager or call start()/close()."""

    def __init__(
        self,
        root: Path,
        *,
        segment_s: float = 1.0,
        width: int = 640,
        height: int = 360,
        fps: int = 25,
        window: int = 10,
        master: bool = True,
        port: int = 0,
        video_bitrate: str = "600k",
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.segment_s = segment_s
        self.width, self.height, self.fps = width, height, fps
        self.window = window
        self.master = master
        self.video_bitrate = video_bitrate
        self._port = port
        self._server: HttpServer | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        self.font = find_font()
        self.restarts = 0

    # ---- serving -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL to record: a master playlist (or the media playlist if master=False)."""
        name = "live.m3u8" if self.master else "media.m3u8"
        return f"{self.base}/{name}"

    @property
    def media_url(self) -> str:
        return f"{self.base}/media.m3u8"

    @property
    def base(self) -> str:
        if self._server is None:
            raise RuntimeError("SimulatedBroadcast not started")
        return self._server.base

    def _route(self, path: str) -> Response | None:
        if path == "/live.m3u8":
            bandwidth = 700_000
            text = (
                "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={self.width}x{self.height},"
                f'CODECS="avc1.42c01e,mp4a.40.2",FRAME-RATE={self.fps}\nmedia.m3u8\n'
            )
            return (200, M3U8_TYPE, text.encode())
        name = path.lstrip("/")
        if "/" in name or not re.fullmatch(r"[\w.-]+\.(m3u8|ts)", name):
            return None
        return _file_response(self.root / name)

    # ---- the encoder ---------------------------------------------------------------

    def _command(self, *, epoch: bool) -> list[str]:
        gop = max(1, round(self.segment_s * self.fps))
        video = ffmpeg.input(
            f"testsrc2=size={self.width}x{self.height}:rate={self.fps}", f="lavfi", re=None
        )
        if self.font:
            video = video.filter(
                "drawtext",
                fontfile=self.font,
                text="%{localtime}  frame %{frame_num}",
                x=12,
                y=12,
                fontsize=max(14, self.height // 16),
                fontcolor="white",
                box=1,
                boxcolor="black@0.6",
            )
        audio = ffmpeg.input("sine=frequency=440:sample_rate=48000", f="lavfi", re=None)
        options: dict[str, Any] = {
            "c:v": "libx264",
            "preset": "ultrafast",
            "tune": "zerolatency",
            "pix_fmt": "yuv420p",
            "b:v": self.video_bitrate,
            "g": gop,
            "keyint_min": gop,
            "sc_threshold": 0,
            "c:a": "aac",
            "b:a": "64k",
            "ac": 2,
            "f": "hls",
            "hls_time": self.segment_s,
            "hls_list_size": self.window,
            "hls_delete_threshold": 4,
            "hls_flags": "delete_segments+program_date_time+temp_file+independent_segments",
            "hls_segment_filename": str(self.root / "seg%d.ts"),
        }
        if epoch:
            options["hls_start_number_source"] = "epoch"
        else:
            options["start_number"] = 0
        out = ffmpeg.output(video, audio, str(self.root / "media.m3u8"), **options)
        args: list[str] = ffmpeg.compile(out, cmd=procs.ffmpeg())
        return [args[0], "-hide_banner", "-loglevel", "error", "-nostdin", *args[1:]]

    def _spawn(self, *, epoch: bool = True) -> None:
        with self._lock:
            if self._closed:
                return
            self._proc = procs.spawn(self._command(epoch=epoch), stderr=subprocess.DEVNULL)

    def _halt(self, sig: int) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            procs.stop(proc, grace_s=1)

    # ---- controls ------------------------------------------------------------------

    def serve(self) -> SimulatedBroadcast:
        """Serve HTTP only (the playlist answers 404 until :meth:`start`)."""
        if self._server is None:
            self._server = HttpServer(self._route, self._port)
        return self

    def start(self) -> SimulatedBroadcast:
        """Start encoding and serving (returns self)."""
        self.serve()
        self._spawn(epoch=True)
        return self

    def wait_ready(self, segments: int = 2, timeout: float = 30.0) -> None:
        """Block until the media playlist lists at least ``segments`` segments."""
        deadline = time.monotonic() + timeout
        playlist = self.root / "media.m3u8"
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                if playlist.read_text().count("#EXTINF") >= segments:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"simulated broadcast produced no playlist in {timeout:.0f}s")

    def stop(self) -> None:
        """End the broadcast cleanly: ffmpeg writes EXT-X-ENDLIST."""
        self._cancel_timer()
        self._halt(signal.SIGINT)

    def kill(self) -> None:
        """The source dies: the playlist stays as it was, without ENDLIST."""
        self._cancel_timer()
        self._halt(signal.SIGKILL)

    def pause(self, seconds: float) -> None:
        """The source stops producing for ``seconds``, then continues (epoch numbering)."""
        self._cancel_timer()
        self._halt(signal.SIGKILL)
        self._timer = threading.Timer(seconds, self._spawn)
        self._timer.daemon = True
        self._timer.start()

    def restart(self, reset_sequence: bool = True) -> None:
        """The encoder restarts at once; with ``reset_sequence`` numbering starts at 0."""
        self._cancel_timer()
        self._halt(signal.SIGKILL)
        self.restarts += 1
        self._spawn(epoch=not reset_sequence)

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Stop everything (the encoder is killed, the server shut down)."""
        self._cancel_timer()
        with self._lock:
            self._closed = True
        self._halt(signal.SIGKILL)
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> SimulatedBroadcast:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ReplayServer:
    """Pre-encoded segments served as ``streams`` live playlists in a wall-clock window.

    Every stream ``i`` lives at ``/s{i}/live.m3u8``; its segment ``seq`` is the pre-encoded
    file ``seq % count``. Nothing is encoded while serving.
    """

    def __init__(
        self,
        root: Path,
        *,
        streams: int = 1,
        segment_s: float = 1.0,
        width: int = 1280,
        height: int = 720,
        fps: int = 25,
        count: int = 10,
        window: int = 6,
        video_bitrate: str = "2500k",
        port: int = 0,
        fault: Callable[[int, int], Response | None] | None = None,
    ) -> None:
        self.root = Path(root)
        # fault(stream, seq) may answer a segment request instead (404, garbage...).
        self.fault = fault
        self.streams = streams
        self.segment_s = segment_s
        self.width, self.height, self.fps = width, height, fps
        self.count = count
        self.window = window
        self.video_bitrate = video_bitrate
        self._port = port
        self._segments: list[bytes] = []
        self._server: HttpServer | None = None
        self._t0 = 0.0
        self.requests = 0

    @property
    def source_dir(self) -> Path:
        return self.root / f"replay-{self.width}x{self.height}-{self.segment_s:g}s-{self.count}"

    def prepare(self) -> None:
        """Encode the segments once (kept under root for later runs)."""
        out = self.source_dir
        files = [out / f"seg{i}.ts" for i in range(self.count)]
        if all(f.is_file() and f.stat().st_size > 0 for f in files):
            self._segments = [f.read_bytes() for f in files]
            return
        out.mkdir(parents=True, exist_ok=True)
        gop = max(1, round(self.segment_s * self.fps))
        rate = self.video_bitrate
        video = ffmpeg.input(f"testsrc2=size={self.width}x{self.height}:rate={self.fps}", f="lavfi")
        audio = ffmpeg.input("sine=frequency=440:sample_rate=48000", f="lavfi")
        stream = ffmpeg.output(
            video,
            audio,
            str(out / "seg%d.ts"),
            t=self.count * self.segment_s,
            **{
                "c:v": "libx264",
                "preset": "ultrafast",
                "pix_fmt": "yuv420p",
                "b:v": rate,
                "minrate": rate,
                "maxrate": rate,
                "bufsize": rate,
                "x264-params": "nal-hrd=cbr",
                "g": gop,
                "keyint_min": gop,
                "sc_threshold": 0,
                "c:a": "aac",
                "b:a": "128k",
                "f": "segment",
                "segment_time": self.segment_s,
                "segment_format": "mpegts",
                "reset_timestamps": 0,
            },
        )
        args: list[str] = ffmpeg.compile(stream, cmd=procs.ffmpeg(), overwrite_output=True)
        procs.run([args[0], "-hide_banner", "-loglevel", "error", *args[1:]], timeout=600)
        self._segments = [f.read_bytes() for f in files]

    def start(self) -> ReplayServer:
        if not self._segments:
            self.prepare()
        # Sequence numbers look like epoch numbering: the window ends at the current second.
        self._t0 = 0.0
        if self._server is None:
            self._server = HttpServer(self._route, self._port)
        return self

    def url(self, stream: int = 0) -> str:
        if self._server is None:
            raise RuntimeError("ReplayServer not started")
        return f"{self._server.base}/s{stream}/live.m3u8"

    def newest_seq(self, at: float | None = None) -> int:
        """The newest complete segment's sequence number at wall-clock ``at``."""
        now = time.time() if at is None else at
        return math.floor(now / self.segment_s) - 1

    def playlist(self, at: float | None = None) -> str:
        return replay_playlist(self.newest_seq(at), self.window, self.segment_s)

    def _route(self, path: str) -> Response | None:
        self.requests += 1
        match = re.fullmatch(r"/s(\d+)/(live\.m3u8|seg(\d+)\.ts)", path)
        if not match or int(match.group(1)) >= self.streams:
            return None
        if match.group(3) is None:
            return (200, M3U8_TYPE, self.playlist().encode())
        seq = int(match.group(3))
        if self.fault is not None:
            injected = self.fault(int(match.group(1)), seq)
            if injected is not None:
                return injected
        if seq > self.newest_seq() or seq < self.newest_seq() - self.window - 4:
            return None
        return (200, TS_TYPE, self._segments[seq % self.count])

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_status(code: int) -> Response:
    """A plain error answer, for routes in tests."""
    return (code, "text/plain", f"{HTTPStatus(code).phrase}\n".encode())


def replay_playlist(newest: int, window: int, segment_s: float) -> str:
    """A replay's sliding live window ending at segment ``newest``: segment ``seq`` starts at
    ``seq * segment_s`` on the wall clock (so every stream of a replay lists the same)."""
    first = newest - window + 1
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{math.ceil(segment_s)}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
    ]
    for seq in range(first, newest + 1):
        pdt = datetime.fromtimestamp(seq * segment_s, UTC)
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt.isoformat(timespec='milliseconds')}")
        lines.append(f"#EXTINF:{segment_s:.3f},")
        lines.append(f"seg{seq}.ts")
    return "\n".join(lines) + "\n"
