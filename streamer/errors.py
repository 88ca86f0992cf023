"""The one error tree of streamer.

Outside errors (botocore, httpx, subprocess, yt-dlp, YAML) are translated into these where
they enter, so callers catch ``StreamerError`` and the CLI maps classes to exit codes::

    StreamerError
    ├── ConfigError              bad settings or environment
    ├── ScheduleError            a schedule is invalid (carries file:line problems)
    ├── ToolError                ffmpeg/ffprobe missing, too old, failed or timed out
    │   └── ToolTimeout
    ├── ResolveError             yt-dlp could not resolve a broadcast URL (``kind``, ``hint``)
    │   ├── BroadcastUnavailable private, removed or not found
    │   ├── NotLiveYet           nothing is live at the URL yet (normal before the start)
    │   └── SiteRefused          the site refuses us: a bot check or a rate limit
    ├── CaptureError             the HLS poller cannot go on (bad playlist, disk full, ...)
    │   └── FetchError           an HTTP fetch failed (``status``, or a transport error)
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
    """``kind`` names the cause for the state, status and webhooks; ``hint`` says what helps."""

    exit_code = 4

    def __init__(self, message: str, *, kind: str = "resolve_error", hint: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.hint = hint


class BlockedSource(ResolveError):
    """A URL to fetch is (or resolves to, or redirects to) an address the SSRF policy refuses."""


class BroadcastUnavailable(ResolveError):
    pass


class NotLiveYet(ResolveError):
    pass


class SiteRefused(ResolveError):
    pass


class CaptureError(StreamerError):
    exit_code = 4


class FetchError(CaptureError):
    """An HTTP fetch failed: ``status`` for an HTTP error answer, None for a transport error
    (``transient`` then says whether a retry can help)."""

    def __init__(
        self, url: str, message: str, *, status: int | None = None, transient: bool = False
    ) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.status = status
        self.transient = transient


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
