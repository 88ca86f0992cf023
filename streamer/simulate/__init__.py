"""Simulated broadcasts on loopback, for tests, the demo and benchmarks.

``broadcast``: a generic HLS broadcast made by ffmpeg; ``replay``: many streams from
pre-encoded segments; ``loopback``: the HTTP server both use. Further modes (YouTube-shaped
media and site, a program with known talk boundaries) live in their own modules beside it.
"""

from streamer.simulate.broadcast import SimulatedBroadcast, find_font
from streamer.simulate.loopback import M3U8_TYPE, TS_TYPE, HttpServer, Response, Route, serve_status
from streamer.simulate.replay import ReplayServer

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
