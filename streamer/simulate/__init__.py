"""Simulated broadcasts on loopback, for tests, the demo and benchmarks.

``live``: a generic HLS broadcast made by ffmpeg, and a replay server for many streams.
Further modes (YouTube-shaped media and site, a program with known talk boundaries) live in
their own modules beside it.
"""

from streamer.simulate.live import (
    M3U8_TYPE,
    TS_TYPE,
    HttpServer,
    ReplayServer,
    Response,
    Route,
    SimulatedBroadcast,
    find_font,
    serve_status,
)

__all__ = [
    "M3U8_TYPE",
    "TS_TYPE",
    "HttpServer",
    "ReplayServer",
    "Response",
    "Route",
    "SimulatedBroadcast",
    "find_font",
    "serve_status",
]
