"""Many live streams for no encoding: pre-encoded segments in a wall-clock sliding window."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import ffmpeg

from streamer import procs
from streamer.simulate.loopback import M3U8_TYPE, TS_TYPE, HttpServer, Response


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
