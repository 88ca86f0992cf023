"""A cheap live HLS origin for the capture benchmarks, run as its own process.

    python bench/hls_origin.py SEGMENT_DIR --streams N --port P [--window 30] [--segment-s 1]

Serves ``/s{i}/live.m3u8`` for ``i < N`` and its segments from memory, in a sliding window
computed from the wall clock (like ``streamer simulate --replay``, but in one asyncio process:
the playlist body is the same for every stream and built once per segment, so a request costs
only the HTTP exchange). Its CPU is measured apart from the recorder's.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from aiohttp import web

from streamer.simulate.replay import replay_playlist


class Origin:
    def __init__(self, segments: list[bytes], streams: int, window: int, segment_s: float) -> None:
        self.segments = segments
        self.streams = streams
        self.window = window
        self.segment_s = segment_s
        self._body: tuple[int, bytes] = (-1, b"")

    def newest(self) -> int:
        return math.floor(time.time() / self.segment_s) - 1

    def playlist(self) -> bytes:
        newest = self.newest()
        if self._body[0] == newest:
            return self._body[1]
        body = replay_playlist(newest, self.window, self.segment_s).encode()
        self._body = (newest, body)
        return body

    async def media(self, request: web.Request) -> web.Response:
        if int(request.match_info["stream"]) >= self.streams:
            raise web.HTTPNotFound()
        return web.Response(body=self.playlist(), content_type="application/vnd.apple.mpegurl")

    async def segment(self, request: web.Request) -> web.Response:
        seq = int(request.match_info["seq"])
        newest = self.newest()
        if int(request.match_info["stream"]) >= self.streams or not (
            newest - self.window - 4 <= seq <= newest
        ):
            raise web.HTTPNotFound()
        return web.Response(body=self.segments[seq % len(self.segments)], content_type="video/mp2t")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("segments", type=Path, help="a directory of seg0.ts, seg1.ts, ...")
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--segment-s", type=float, default=1.0)
    args = parser.parse_args()
    files = sorted(args.segments.glob("seg*.ts"), key=lambda p: int(p.stem[3:]))
    origin = Origin([f.read_bytes() for f in files], args.streams, args.window, args.segment_s)
    app = web.Application()
    app.router.add_get(r"/s{stream:\d+}/live.m3u8", origin.media)
    app.router.add_get(r"/s{stream:\d+}/seg{seq:\d+}.ts", origin.segment)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
