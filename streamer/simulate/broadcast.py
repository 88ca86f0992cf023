"""A live broadcast on loopback: ffmpeg ``-re`` encoding a test pattern to HLS, served over HTTP.

:class:`SimulatedBroadcast` runs ffmpeg from a lavfi test pattern (burned-in wall clock and
frame counter when a font is found) and a tone, writing HLS with EXT-X-PROGRAM-DATE-TIME and
epoch numbering. It can stop (ENDLIST), die (stale playlist), pause and restart with a sequence
reset, which are the faults a recorder must survive.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import ffmpeg

from streamer import procs
from streamer.simulate.loopback import M3U8_TYPE, TS_TYPE, HttpServer, Response

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeMono.ttf",
)


def find_font() -> str | None:
    """A TrueType font for drawtext (Debian: fonts-dejavu-core), or None."""
    for path in FONT_CANDIDATES:
        if Path(path).is_file():
            return path
    return None


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
