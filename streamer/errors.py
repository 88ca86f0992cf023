"""The one error tree of streamer.

Outside errors (botocore, httpx, subprocess, yt-dlp, YAML) are translated into these where
they enter, so callers catch ``StreamerError`` and the CLI maps classes to exit codes::

    StreamerError
    ├── ConfigError              bad settings or environment
    ├── ScheduleError            a schedule is invalid (carries file:line problems)
    ├── ToolError                ffmpeg/ffprobe missing, too old, failed or timed out
    │   └── ToolTimeout
    ├── ResolveError             yt-dlp could not resolve a broadcast URL
    │   └── BroadcastUnavailable private, removed or not found
    ├── CaptureError             the HLS poller cannot go on (bad playlist, disk full, ...)
    ├── SplitError               a session cannot be cut (no coverage, bad timeline)
    ├── StorageError             object storage failed (after retries)
    │   └── NotFound
    ├── StateError               the state DB refused something
    │   └── IllegalTransition
    ├── NotFoundError            an id that does not exist (session, broadcast, VOD)
    └── InvalidRequest           a well-formed request that asks for something impossible
"""

from __future__ import annotations


class StreamerError(Exception):
    """Root of every error streamer raises on purpose."""

    exit_code = 1


class ConfigError(StreamerError):
    exit_code = 2


class ScheduleError(StreamerError):
    """A schedule failed validation; ``problems`` holds ``file:line: message`` strings."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class ToolError(StreamerError):
    exit_code = 3


class ToolTimeout(ToolError):
    pass


class ResolveError(StreamerError):
    exit_code = 4


class BlockedSource(ResolveError):
    """A URL to fetch is (or resolves to, or redirects to) an address the SSRF policy refuses."""


class BroadcastUnavailable(ResolveError):
    pass


class CaptureError(StreamerError):
    exit_code = 4


class SplitError(StreamerError):
    exit_code = 5


class StorageError(StreamerError):
    exit_code = 6


class NotFound(StorageError):
    pass


class StateError(StreamerError):
    exit_code = 7


class IllegalTransition(StateError):
    pass


class NotFoundError(StreamerError):
    exit_code = 8


class InvalidRequest(StreamerError):
    exit_code = 2
