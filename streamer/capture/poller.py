"""The poll loop of a recording: reload the media playlist, keep each new segment once.

:class:`Poller` holds where a recording stands (part, cursor, counters) and does one poll at a
time: fetch the playlist, detect a stale copy, a reset, a new video or a variant change, write
segments and gap rows, ask for a background re-resolve when the URL is refused or gone, and
watch for stalls. :mod:`streamer.capture.hls` wraps it into a whole recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx

from streamer.capture import position
from streamer.capture.clock import Clock
from streamer.capture.fetch import Fetcher, HttpxFetcher, fetch_retrying
from streamer.capture.playlist import (
    Entry,
    MediaPlaylist,
    Variant,
    choose_variant,
    looks_like_ts,
    parse,
)
from streamer.capture.position import Cursor
from streamer.capture.refresh import MAX_PLAYLIST_BYTES, Located, Refresher, locate
from streamer.capture.timeline import GAP_TOLERANCE_S, Timeline, TimelineWriter
from streamer.errors import CaptureError, FetchError, ResolveError, StreamerError
from streamer.netguard import Policy
from streamer.timeutil import iso
from streamer.youtube import BroadcastInfo, ResolverLike

log = logging.getLogger(__name__)

State = Literal["ended", "stalled", "stopped", "failed"]
MAX_REFILL_ATTEMPTS = 3
FIRST_POLL_FAILURES = 3
MAX_SEGMENT_BYTES = 256 * 1024 * 1024
# While the resolver still says "live" but no segment comes, re-resolve this many times.
MAX_STALL_EXTENSIONS = 3
# A media playlist answering these is gone or refused: ask the resolver for a new URL.
RERESOLVE_STATUS = (403, 404, 410)
# Re-resolve this long before the manifest URL expires.
EXPIRY_MARGIN_S = 60.0
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


class Poller:
    """The state of one recording and its poll loop; :class:`~streamer.capture.hls.Recorder`
    runs it."""

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

    # ---- resolving -------------------------------------------------------------------

    async def _adopt(self, found: Located) -> None:
        """Poll the media playlist of a (re-)resolved broadcast from now on."""
        info = found.info
        self.info = info
        new_video = (
            info.video_id is not None
            and self.video_id is not None
            and info.video_id != self.video_id
        )
        if new_video:
            # YouTube made a new video (an encoder crash): its numbering starts afresh
            self.pending_part_reason = f"new video {info.video_id}"
            self.cursor.forget_numbering()
            self.cursor.take_window = True
            self.missed.clear()
            self._last_playlist = None
        elif self.variant_key is not None and found.key != self.variant_key:
            self.pending_part_reason = "variant change"
        self.video_id = info.video_id or self.video_id
        self.media_url, self.variant_key = found.media_url, found.key
        if new_video and self.writer is not None:
            await self._write(self._write_meta)

    def _re_resolve(self, why: str) -> bool:
        """Ask for a fresh manifest URL in the background; polling goes on meanwhile."""
        return self.refresher.request(why)

    async def _take_refresh(self) -> None:
        """Adopt a finished background re-resolve."""
        found = self.refresher.ready()
        if found is None:
            return
        if isinstance(found, StreamerError):
            self.last_error = f"re-resolve failed: {found}"
            log.warning("%s: %s", self.url, self.last_error)
            return
        if found.has_ended and not found.is_live:
            return  # the stall watchdog decides with the next resolve
        try:
            await self._adopt(await locate(found, self.client, self.max_height))
        except StreamerError as exc:
            self.last_error = f"re-resolve: {exc}"
            log.warning("%s: %s", self.url, self.last_error)

    # ---- parts, gaps, segments ---------------------------------------------------------

    def _resume_state(self) -> None:
        # A crash can leave the temp file of the segment being written; it was never kept.
        for stray in self.out_dir.glob("part-*/.*.tmp"):
            with contextlib.suppress(OSError):
                stray.unlink()
        timeline = Timeline.load(self.out_dir)
        self.video_id = timeline.meta.get("video_id") or None
        if not timeline.segments:
            self.part = max(timeline.part_reasons, default=0)
            return
        self.resumed = True
        last_part = max(s.part for s in timeline.segments)
        self.part = max(last_part, *timeline.part_reasons) if timeline.part_reasons else last_part
        in_part = [s for s in timeline.segments if s.part == self.part]
        if in_part:
            last = max(in_part, key=lambda s: s.seq)
            self.cursor.last_seq, self.cursor.last_end = last.seq, last.end
        else:  # a part row was written but no segment: start that part afresh
            self.cursor.last_end = timeline.end

    async def _open_part(self, reason: str) -> None:
        assert self.writer is not None
        self.part += 1
        self.parts_opened += 1
        await self._write(self.writer.new_part, self.part, reason)
        log.info("%s: part %d (%s)", self.url, self.part, reason)

    async def _take(self, playlist: MediaPlaylist, index: int, fetched_at: datetime) -> bool:
        """Download and keep one entry. False when the playlist must be reloaded first."""
        assert self.writer is not None
        entry: Entry = playlist.entries[index]
        start = position.start_time(self.cursor, playlist, index, fetched_at)
        # The segment that straddles ``until`` is kept when most of it lies before.
        midpoint = start + timedelta(seconds=entry.duration / 2)
        if self.until is not None and midpoint >= self.until:
            self.until_seen = True
            return False
        if entry.discontinuity and self.cursor.last_end is not None:
            self.pending_part_reason = self.pending_part_reason or "discontinuity"
        try:
            data = await self._download(entry)
        except FetchError as exc:
            if exc.status in (403, 410):
                self._re_resolve(f"segment {entry.seq}: HTTP {exc.status}")
                return False
            return self._lost(entry, str(exc))
        except CaptureError as exc:
            return self._lost(entry, str(exc))
        if not looks_like_ts(data):
            log.warning("%s: segment %d is not MPEG-TS (%d bytes)", self.url, entry.seq, len(data))
            self.last_error = f"segment {entry.seq} is not MPEG-TS"
            return True
        await self._before_segment(entry, start)
        await self._keep(entry, data, start)
        self.cursor.last_seq = entry.seq
        self.cursor.last_end = start + timedelta(seconds=entry.duration)
        self.cursor.take_window = False
        self.last_new_at = self.clock.monotonic()
        self.extensions = 0
        self._progress()
        return True

    def _lost(self, entry: Entry, why: str) -> bool:
        log.warning("%s: segment %d lost: %s", self.url, entry.seq, why)
        self.last_error = f"segment {entry.seq}: {why}"
        self.missed.setdefault(entry.seq, 1)
        return True

    async def _keep(self, entry: Entry, data: bytes, start: datetime) -> None:
        assert self.writer is not None
        pdt = entry.pdt is not None
        await self._write(
            self.writer.write_segment, self.part, entry.seq, data, start, entry.duration, pdt
        )
        self.segments += 1
        self.bytes += len(data)

    async def _refill(self, playlist: MediaPlaylist, fetched_at: datetime) -> None:
        """Segments lost to a passing error are tried again while the playlist lists them."""
        if not self.missed or self.writer is None:
            return
        listed = {e.seq: i for i, e in enumerate(playlist.entries)}
        for seq in sorted(self.missed):
            index = listed.get(seq)
            healed = (self.out_dir / f"part-{self.part:03d}/{seq:010d}.ts").exists()
            if index is None or self.missed[seq] >= MAX_REFILL_ATTEMPTS or healed:
                del self.missed[seq]  # out of the window, not coming back, or healed meanwhile
                continue
            self.missed[seq] += 1
            entry = playlist.entries[index]
            try:
                data = await self._download(entry)
            except CaptureError:
                continue
            if not looks_like_ts(data):
                continue
            await self._keep(
                entry, data, position.start_time(self.cursor, playlist, index, fetched_at)
            )
            del self.missed[seq]
            log.info("%s: segment %d recovered", self.url, seq)

    async def _before_segment(self, entry: Entry, start: datetime) -> None:
        """Open a part and write a gap row as the next kept segment requires."""
        assert self.writer is not None
        if self.part == 0:
            self.pending_part_reason = None
            await self._open_part("start")
        elif self.pending_part_reason is not None:
            reason, self.pending_part_reason = self.pending_part_reason, None
            await self._open_part(reason)
        last_seq, last_end = self.cursor.last_seq, self.cursor.last_end
        if last_end is None:
            return
        hole = (start - last_end).total_seconds()
        if hole <= GAP_TOLERANCE_S:
            return
        if last_seq is not None and entry.seq > last_seq + 1:
            first, last = last_seq + 1, entry.seq - 1
            why = f"segment {first} missed" if first == last else f"segments {first}-{last} missed"
        else:
            why = f"no segments for {hole:.1f}s"
        await self._write(self.writer.gap, last_end, start, why)
        self.gaps += 1

    # ---- the loop ----------------------------------------------------------------------

    async def _fetch_playlist(self) -> tuple[MediaPlaylist | list[Variant], bytes] | None:
        """The media playlist, or None after a failure (recorded, re-resolve asked for)."""
        assert self.media_url is not None
        url = self.media_url
        try:
            body = await self.client.get(url, MAX_PLAYLIST_BYTES)
            if self._last_playlist is not None and (url, body) == self._last_playlist[:2]:
                return self._last_playlist[2], body
            # the same bytes parse to the same playlist: parse only when they changed
            return parse(body.decode("utf-8", "replace"), url), body
        except FetchError as exc:
            self.failures += 1
            what = f"HTTP {exc.status}" if exc.status else str(exc)
            self.last_error = f"playlist: {what}"
            if exc.status in RERESOLVE_STATUS:
                # gone (404: a vanished variant) or refused (403/410: expired)
                self._re_resolve(f"playlist {what}")
            return None
        except CaptureError as exc:
            self.failures += 1
            self.last_error = f"playlist: {exc}"
            # not a playlist at all, again and again, before anything was kept: give up
            if self.segments == 0 and not self.resumed and self.failures >= FIRST_POLL_FAILURES:
                raise _Finish("failed", str(exc)) from exc
            return None

    async def _poll_once(self) -> float:
        """Fetch the playlist, keep new segments; returns how long to wait before the next."""
        fetched_at = self.clock.now()
        url = self.media_url
        fetched = await self._fetch_playlist()
        if fetched is None:
            self._progress()  # the status says what is wrong and what the refresher does
            return self._backoff()
        parsed, body = fetched
        if isinstance(parsed, list):  # the URL now serves a master playlist
            self.media_url = choose_variant(parsed, self.max_height).url
            return 0.0
        self.failures = 0
        self.last_error = None
        self.refresher.helped()
        playlist = parsed
        assert url is not None
        self._last_playlist = (url, body, playlist)
        cursor = self.cursor
        if position.is_stale(cursor, playlist):
            log.info("%s: stale playlist (sequence %d), ignored", self.url, playlist.media_sequence)
            return playlist.target_duration / 2
        reset = position.detect_reset(cursor, playlist)
        if reset is not None:
            # The old numbering means nothing now; continue by time.
            self.pending_part_reason = reset
            cursor.last_seq = None
            self.missed.clear()
        else:
            await self._refill(playlist, fetched_at)
        self.target = playlist.target_duration
        self.ever_listed = self.ever_listed or bool(playlist.entries)
        cursor.prev_media_sequence = playlist.media_sequence
        changed = playlist.digest != self.last_digest
        self.last_digest = playlist.digest
        for index in position.wanted(cursor, playlist, fetched_at):
            if self.stop.is_set():
                break
            # a backlog of failing downloads must not starve the stall watchdog
            if self.clock.monotonic() - self.last_new_at >= self.stall_timeout_s:
                break
            if not await self._take(playlist, index, fetched_at):
                break
        if playlist.endlist:
            raise _Finish("ended", "the stream ended (EXT-X-ENDLIST)")
        self._progress()
        target = playlist.target_duration
        return target if changed else target / 2

    def _backoff(self) -> float:
        base = min(2.0 ** min(self.failures, 4) * 0.5, 8.0)
        return base * random.uniform(0.8, 1.2)

    async def _check_stall(self) -> None:
        idle = self.clock.monotonic() - self.last_new_at
        if idle < self.stall_timeout_s:
            return
        detail = f"no new segment for {idle:.0f}s"
        if self.last_error:
            detail += f"; last error: {self.last_error}"
        info = self.info
        if info is None or info.is_generic:
            if not self.ever_listed:
                raise _Finish("stalled", f"{detail}: the playlist never listed a segment")
            raise _Finish("stalled", f"{detail} (playlist stopped updating)")
        try:
            fresh = await self.refresher.resolve_now()
        except ResolveError as exc:
            raise _Finish("stalled", f"{detail}; resolver: {exc}") from exc
        if fresh.has_ended:
            raise _Finish("ended", f"the broadcast ended ({fresh.live_status}); {detail}")
        if fresh.is_live and self.extensions < MAX_STALL_EXTENSIONS:
            self.extensions += 1
            log.warning(
                "%s: %s but still live; new manifest (%d)", self.url, detail, self.extensions
            )
            with contextlib.suppress(StreamerError):
                await self._adopt(await locate(fresh, self.client, self.max_height))
            self.last_new_at = self.clock.monotonic()
            return
        raise _Finish("stalled", f"{detail} (resolver says {fresh.live_status})")

    async def _loop(self) -> None:
        while True:
            if self.stop.is_set():
                raise _Finish("stopped", "stop requested")
            moment = self.clock.now()
            if self.until is not None:
                late = (moment - self.until).total_seconds()
                if self.until_seen or late > max(10.0, 3 * self.target):
                    raise _Finish("stopped", f"reached the end time {iso(self.until)}")
            await self._take_refresh()
            info = self.info
            expires = info.expires_at if info else None
            soon = expires is not None and (expires - moment).total_seconds() < EXPIRY_MARGIN_S
            # once per expiry time: a resolve that gives the same URL back must not loop
            if soon and expires != self.renewed_expiry and self._re_resolve("URL expires"):
                self.renewed_expiry = expires
            wait = await self._poll_once()
            await self._check_stall()
            if self.until_seen:
                continue
            await self.clock.sleep(wait, self.stop)
