"""Where one recording stands in its poll loop (part, cursor, counters), and the helpers every
step uses: progress reports, disk writes in the shared disk threads, segment downloads.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from streamer.capture.clock import Clock
from streamer.capture.fetch import Fetcher, HttpxFetcher, fetch_retrying
from streamer.capture.playlist import Entry, MediaPlaylist
from streamer.capture.position import Cursor
from streamer.capture.refresh import Refresher
from streamer.capture.timeline import TimelineWriter
from streamer.netguard import Policy
from streamer.youtube import BroadcastInfo, ResolverLike

State = Literal["ended", "stalled", "stopped", "failed"]
MAX_SEGMENT_BYTES = 256 * 1024 * 1024
# fdatasync waits on the disk, not the CPU: enough threads for hundreds of streams
DISK_THREADS = 16


_DISK: ThreadPoolExecutor | None = None


def _disk() -> ThreadPoolExecutor:
    """The threads that write and fdatasync segments, shared by every recording in the
    process: apart from the default executor, where a yt-dlp resolve holds a thread for
    seconds, so a burst of resolves cannot hold up the writes of recordings under way."""
    global _DISK
    if _DISK is None:
        _DISK = ThreadPoolExecutor(max_workers=DISK_THREADS, thread_name_prefix="capture-disk")
    return _DISK


@dataclass(frozen=True)
class Progress:
    elapsed_s: float
    segments: int
    bytes: int
    gaps: int
    parts: int
    part: int
    last_seq: int | None
    lag_s: float | None  # how far the newest kept segment ends behind now
    status: str = "recording"


class _Finish(Exception):
    """Internal: leave the loop with a final state."""

    def __init__(self, state: State, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


class PollState:
    """The state of one recording and the helpers its poll steps share."""

    def __init__(
        self,
        url: str,
        out_dir: Path,
        *,
        resolver: ResolverLike,
        max_height: int,
        until: datetime | None,
        stall_timeout_s: float,
        stop: asyncio.Event,
        on_progress: Callable[[Progress], None] | None,
        meta: dict[str, Any] | None,
        backfill_s: float,
        client: httpx.AsyncClient | None,
        clock: Clock,
        policy: Policy | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.url = url
        self.out_dir = Path(out_dir)
        self.resolver = resolver
        self.max_height = max_height
        self.until = until
        self.stall_timeout_s = stall_timeout_s
        self.stop = stop
        self.on_progress = on_progress
        self.meta = meta or {}
        self.clock = clock
        # a client the caller hands in; else the loop's shared aiohttp fetcher (Recorder.run)
        self._http: Fetcher | None = HttpxFetcher(client) if client is not None else None
        self.refresher = Refresher(resolver, url, clock)

        self.info: BroadcastInfo | None = None
        self.media_url: str | None = None
        self.variant_key: str | None = None
        self.video_id: str | None = None
        self.writer: TimelineWriter | None = None
        self.part = 0
        self.cursor = Cursor(backfill_s=backfill_s, asked_at=clock.now())
        self.resumed = False
        self.pending_part_reason: str | None = None
        # counters for this call
        self.segments = 0
        self.bytes = 0
        self.gaps = 0
        self.parts_opened = 0
        self.started = clock.monotonic()
        self.started_at = clock.now()
        self.last_new_at = self.started
        self.last_digest: str | None = None
        # (url, body, parsed) of the last media playlist, to skip parsing unchanged bytes
        self._last_playlist: tuple[str, bytes, MediaPlaylist] | None = None
        self.last_error: str | None = None
        self.failures = 0
        self.extensions = 0
        self.missed: dict[int, int] = {}  # seq → attempts, lost to a passing error
        self.until_seen = False
        self.target = 2.0
        self.ever_listed = False
        self.renewed_expiry: datetime | None = None

    # ---- helpers ---------------------------------------------------------------------

    @property
    def client(self) -> Fetcher:
        assert self._http is not None, "the recorder sets its fetcher before polling"
        return self._http

    def _progress(self, status: str = "recording") -> None:
        if self.on_progress is None:
            return
        last_end = self.cursor.last_end
        lag = (self.clock.now() - last_end).total_seconds() if last_end else None
        if status == "recording" and self.refresher.status:
            status = f"recording; {self.refresher.status}"
        self.on_progress(
            Progress(
                elapsed_s=self.clock.monotonic() - self.started,
                segments=self.segments,
                bytes=self.bytes,
                gaps=self.gaps,
                parts=max(self.part, 0),
                part=self.part,
                last_seq=self.cursor.last_seq,
                lag_s=lag,
                status=status,
            )
        )

    def _write_meta(self) -> None:
        """Rewrite recording.json (the recorder's; a new video changes it)."""
        raise NotImplementedError

    async def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self.writer is not None
        try:
            return await asyncio.get_running_loop().run_in_executor(_disk(), fn, *args)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _Finish(
                    "failed", f"disk full (ENOSPC) in {self.out_dir}; kept what was written"
                ) from exc
            raise _Finish("failed", f"cannot write in {self.out_dir}: {exc}") from exc

    async def _download(self, entry: Entry) -> bytes:
        return await fetch_retrying(self.client, entry.url, MAX_SEGMENT_BYTES, self.clock.sleep)

    def _re_resolve(self, why: str) -> bool:
        """Ask for a fresh manifest URL in the background; polling goes on meanwhile."""
        return self.refresher.request(why)
