"""Test media behind the loopback YouTube: per-video live HLS on 127.0.0.1, on a given clock.

Each video numbers its segments from 0 at its start, lists a 30 s window (like YouTube), and
serves any sequence in the window from a few pre-encoded MPEG-TS segments. A test can make a
video's media playlist answer an HTTP status (403 forever, 404 for a vanished variant), and
sees every playlist request with its clock time.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamer.simulate import M3U8_TYPE, TS_TYPE, HttpServer, Response, serve_status
from streamer.simulate.youtube_site import hls_master


@dataclass
class MediaVideo:
    started: datetime
    ended: datetime | None = None  # segments stop; ENDLIST once the clock passes it
    status: int | None = None  # the media playlist answers this instead
    itag: int = 95


class Media:
    """Live HLS for the videos of a scenario."""

    def __init__(
        self,
        segments: list[bytes],
        clock: Callable[[], datetime],
        *,
        segment_s: float = 1.0,
        window: int = 30,
        before: Callable[[], None] | None = None,
    ) -> None:
        self.segments = segments
        self.clock = clock
        self.segment_s = segment_s
        self.window = window
        self.videos: dict[str, MediaVideo] = {}
        # called before each request: the site's tick, so scripted changes apply here too
        self.before = before
        # (video, itag, clock time, real monotonic time) of every media playlist request
        self.playlist_requests: list[tuple[str, int, datetime, float]] = []
        self._lock = threading.Lock()
        self._server = HttpServer(self._route)

    @classmethod
    def from_dir(cls, source: Path, clock: Callable[[], datetime], **kw: Any) -> Media:
        files = sorted(source.glob("seg*.ts"), key=lambda p: int(p.stem[3:]))
        return cls([f.read_bytes() for f in files], clock, **kw)

    def close(self) -> None:
        self._server.close()

    def add(self, video_id: str, started: datetime, **kw: object) -> MediaVideo:
        video = MediaVideo(started, **kw)  # type: ignore[arg-type]
        self.videos[video_id] = video
        return video

    def master_url(self, video_id: str) -> str:
        return f"{self._server.base}/v/{video_id}/master.m3u8"

    def media_url(self, video_id: str, itag: int | None = None, expire: int | None = None) -> str:
        itag = itag or self.videos[video_id].itag
        exp = f"/expire/{expire}" if expire else ""
        return f"{self._server.base}/v/{video_id}{exp}/itag/{itag}/index.m3u8"

    def count(self, moment: datetime, video: MediaVideo) -> int:
        """How many segments the video has made by ``moment``."""
        until = min(moment, video.ended) if video.ended else moment
        return max(0, math.floor((until - video.started).total_seconds() / self.segment_s))

    def playlist(self, video_id: str) -> str:
        video = self.videos[video_id]
        moment = self.clock()
        made = self.count(moment, video)
        first = max(0, made - self.window)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{math.ceil(self.segment_s)}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
        ]
        base = f"{self._server.base}/v/{video_id}/seq"
        for seq in range(first, made):
            pdt = video.started + timedelta(seconds=seq * self.segment_s)
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt.isoformat(timespec='milliseconds')}")
            lines.append(f"#EXTINF:{self.segment_s:.3f},")
            lines.append(f"{base}/{seq}.ts")
        if video.ended is not None and moment >= video.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def _route(self, path: str) -> Response | None:
        if self.before is not None:
            self.before()
        match = re.fullmatch(
            r"/v/(\w+)(?:/expire/\d+)?/(master\.m3u8|itag/(\d+)/index\.m3u8)", path
        )
        if match:
            video_id = match.group(1)
            video = self.videos.get(video_id)
            if video is None:
                return None
            if match.group(2) == "master.m3u8":
                text = hls_master([(self.media_url(video_id), 320, 180)])
                return (200, M3U8_TYPE, text.encode())
            with self._lock:
                self.playlist_requests.append(
                    (video_id, int(match.group(3)), self.clock(), time.monotonic())
                )
            if video.status is not None or int(match.group(3)) != video.itag:
                return serve_status(video.status or 404)
            return (200, M3U8_TYPE, self.playlist(video_id).encode())
        match = re.fullmatch(r"/v/(\w+)/seq/(\d+)\.ts", path)
        if match and match.group(1) in self.videos:
            return (200, TS_TYPE, self.segments[int(match.group(2)) % len(self.segments)])
        return None
