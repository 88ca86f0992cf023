"""The HLS poller: follow a live playlist and keep every segment, with a timeline.

One :func:`record` call follows one broadcast. It reloads the media playlist about every
target duration, downloads each new segment once (by media sequence), writes it atomically
and appends a timeline row. It opens a new part on a sequence reset, a discontinuity or a
variant change, records a gap row when segments were missed, re-resolves the manifest on
403/410, retries 5xx and timeouts, and stops on ENDLIST, ``until``, a ``stop`` event or the
stall watchdog. Many calls share one event loop; disk writes run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx

from streamer import __version__
from streamer.capture.playlist import (
    Entry,
    MediaPlaylist,
    Variant,
    choose_variant,
    looks_like_ts,
    parse,
)
from streamer.capture.timeline import GAP_TOLERANCE_S, Timeline, TimelineWriter
from streamer.config import Settings
from streamer.errors import CaptureError, ResolveError, StreamerError
from streamer.timeutil import iso, now
from streamer.youtube import BroadcastInfo, Resolver, ResolverLike, resolve_async

log = logging.getLogger(__name__)

State = Literal["ended", "stalled", "stopped", "failed"]
MAX_REFILL_ATTEMPTS = 3
FIRST_POLL_FAILURES = 3
MAX_PLAYLIST_BYTES = 16 * 1024 * 1024  # a YouTube DVR playlist lists hours of segments
MAX_SEGMENT_BYTES = 256 * 1024 * 1024
# A resumed recording continues the old part when our last segment is still this close.
RESUME_PDT_TOLERANCE_S = 2.0
# While the resolver still says "live" but no segment comes, re-resolve this many times.
MAX_STALL_EXTENSIONS = 3
# Re-resolving (yt-dlp) costs seconds and load on the site: not more often than this.
MIN_RESOLVE_INTERVAL_S = 3.0
# GETs with retries: this many attempts in all; between them 0.25 s, 0.5 s, 1 s (at most
# 2 s), each plus up to 0.25 s of jitter.
RETRY_ATTEMPTS = 4
RETRY_WAIT_S = 0.25
RETRY_MAX_WAIT_S = 2.0
RETRY_JITTER_S = 0.25


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


@dataclass
class RecordResult:
    state: State
    reason: str
    out_dir: Path
    segments: int = 0  # written by this call
    bytes: int = 0
    gaps: int = 0  # gap rows written by this call
    parts: int = 0  # parts opened by this call
    started_at: datetime = field(default_factory=now)
    ended_at: datetime = field(default_factory=now)
    info: BroadcastInfo | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("ended", "stopped")


class HttpError(CaptureError):
    """An HTTP status the poller reacts to (403/410 re-resolve, 5xx retry, 404 skip)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url}: HTTP {status}")
        self.url = url
        self.status = status


class _Finish(Exception):
    """Internal: leave the loop with a final state."""

    def __init__(self, state: State, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, HttpError):
        return exc.status >= 500 or exc.status in (408, 425, 429)
    return isinstance(exc, httpx.TimeoutException | httpx.TransportError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"{type(exc).__name__}: {exc}"
    return str(exc)


class Recorder:
    """The state of one recording; use :func:`record`."""

    def __init__(
        self,
        url: str,
        out_dir: Path,
        *,
        resolver: ResolverLike,
        settings: Settings,
        until: datetime | None,
        stall_timeout_s: float,
        stop: asyncio.Event,
        on_progress: Callable[[Progress], None] | None,
        meta: dict[str, Any] | None,
        backfill_s: float,
        client: httpx.AsyncClient | None,
    ) -> None:
        self.url = url
        self.out_dir = Path(out_dir)
        self.resolver = resolver
        self.settings = settings
        self.until = until
        self.stall_timeout_s = stall_timeout_s
        self.stop = stop
        self.on_progress = on_progress
        self.meta = meta or {}
        self.backfill_s = backfill_s
        self._client = client
        self._own_client = client is None

        self.info: BroadcastInfo | None = None
        self.media_url: str | None = None
        self.variant_key: str | None = None
        self.writer: TimelineWriter | None = None
        # position in the recording
        self.part = 0
        self.last_seq: int | None = None
        self.last_end: datetime | None = None
        self.resumed = False
        self.prev_media_sequence: int | None = None
        self.pending_part_reason: str | None = None
        # counters for this call
        self.segments = 0
        self.bytes = 0
        self.gaps = 0
        self.parts_opened = 0
        self.started = time.monotonic()
        self.started_at = now()
        self.last_new_at = time.monotonic()
        self.last_digest: str | None = None
        # (url, body, parsed) of the last media playlist, to skip parsing unchanged bytes
        self._last_playlist: tuple[str, bytes, MediaPlaylist] | None = None
        self.last_error: str | None = None
        self.failures = 0
        self.extensions = 0
        self.missed: dict[int, int] = {}  # seq → attempts, lost to a passing error
        self.last_resolve = 0.0
        self.until_seen = False
        self.target = 2.0
        self.ever_listed = False

    # ---- helpers ---------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(15.0, connect=5.0),
                follow_redirects=True,
                headers={"User-Agent": f"streamer/{__version__}"},
            )
        return self._client

    async def _get(self, url: str, limit: int) -> bytes:
        async with self.client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise HttpError(url, response.status_code)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise CaptureError(f"{url}: response of {declared} bytes is too large")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise CaptureError(f"{url}: response larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)

    def _progress(self, status: str = "recording") -> None:
        if self.on_progress is None:
            return
        lag = (now() - self.last_end).total_seconds() if self.last_end else None
        self.on_progress(
            Progress(
                elapsed_s=time.monotonic() - self.started,
                segments=self.segments,
                bytes=self.bytes,
                gaps=self.gaps,
                parts=max(self.part, 0),
                part=self.part,
                last_seq=self.last_seq,
                lag_s=lag,
                status=status,
            )
        )

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when stop is set."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    async def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self.writer is not None
        try:
            return await asyncio.to_thread(fn, *args)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _Finish(
                    "failed", f"disk full (ENOSPC) in {self.out_dir}; kept what was written"
                ) from exc
            raise _Finish("failed", f"cannot write in {self.out_dir}: {exc}") from exc

    # ---- resolving -------------------------------------------------------------------

    async def _resolve(self) -> BroadcastInfo:
        self.last_resolve = time.monotonic()
        info = await resolve_async(self.resolver, self.url)
        self.info = info
        return info

    async def _adopt(self, info: BroadcastInfo) -> None:
        """Take the manifest of a (re-)resolved broadcast, choosing a variant from a master."""
        if info.manifest_url is None:
            return
        url = info.manifest_url
        key = info.format_id or info.manifest_url
        text = (await self._get_retrying(url, MAX_PLAYLIST_BYTES)).decode("utf-8", "replace")
        parsed = parse(text, url)
        if isinstance(parsed, list):
            variant: Variant = choose_variant(parsed, self.settings.max_height)
            url, key = variant.url, f"{key}/{variant.key}"
            text = (await self._get_retrying(url, MAX_PLAYLIST_BYTES)).decode("utf-8", "replace")
            if not isinstance(parse(text, url), MediaPlaylist):
                raise CaptureError(f"{url}: a master playlist where a media playlist should be")
        if self.variant_key is not None and key != self.variant_key:
            self.pending_part_reason = "variant change"
        self.media_url, self.variant_key = url, key

    async def _re_resolve(self, why: str) -> None:
        if time.monotonic() - self.last_resolve < MIN_RESOLVE_INTERVAL_S:
            return
        log.info("%s: re-resolving (%s)", self.url, why)
        try:
            info = await self._resolve()
            await self._adopt(info)
        except (StreamerError, httpx.HTTPError) as exc:
            self.last_error = f"re-resolve failed: {_describe(exc)}"
            log.warning("%s: %s", self.url, self.last_error)

    # ---- parts, gaps, segments ---------------------------------------------------------

    def _resume_state(self) -> None:
        # A crash can leave the temp file of the segment being written; it was never kept.
        for stray in self.out_dir.glob("part-*/.*.tmp"):
            with contextlib.suppress(OSError):
                stray.unlink()
        timeline = Timeline.load(self.out_dir)
        if not timeline.segments:
            self.part = max(timeline.part_reasons, default=0)
            return
        self.resumed = True
        last_part = max(s.part for s in timeline.segments)
        self.part = max(last_part, *timeline.part_reasons) if timeline.part_reasons else last_part
        in_part = [s for s in timeline.segments if s.part == self.part]
        if in_part:
            last = max(in_part, key=lambda s: s.seq)
            self.last_seq, self.last_end = last.seq, last.end
        else:  # a part row was written but no segment: start that part afresh
            self.last_end = timeline.end

    async def _open_part(self, reason: str) -> None:
        assert self.writer is not None
        self.part += 1
        self.parts_opened += 1
        await self._write(self.writer.new_part, self.part, reason)
        log.info("%s: part %d (%s)", self.url, self.part, reason)

    def _is_stale(self, playlist: MediaPlaylist) -> bool:
        """A playlist from behind our last segment (a lagging CDN edge), not a reset: it does
        not list our newest segment, every entry has a time, and none ends after it."""
        entries = playlist.entries
        if self.last_seq is None or self.last_end is None or not entries:
            return False
        if entries[-1].seq >= self.last_seq or any(e.pdt is None for e in entries):
            return False
        tolerance = timedelta(seconds=GAP_TOLERANCE_S)
        return all(
            e.pdt is not None and e.pdt + timedelta(seconds=e.duration) <= self.last_end + tolerance
            for e in entries
        )

    def _detect_reset(self, playlist: MediaPlaylist) -> str | None:
        """Why the playlist does not continue our part, or None."""
        if self.last_seq is None or not playlist.entries:
            return None
        prev = self.prev_media_sequence
        if prev is not None and playlist.media_sequence < prev:
            return "sequence reset"
        newest = playlist.entries[-1].seq
        if newest < self.last_seq:
            return "sequence reset"
        if prev is None and self.last_end is not None:
            # First playlist after a resume: our last segment must line up in time.
            same = next((e for e in playlist.entries if e.seq == self.last_seq), None)
            if same is not None and same.pdt is not None:
                drift = abs((same.pdt + timedelta(seconds=same.duration)) - self.last_end)
                if drift.total_seconds() > RESUME_PDT_TOLERANCE_S:
                    return "sequence reset"
        return None

    def _start_time(self, playlist: MediaPlaylist, index: int, fetched_at: datetime) -> datetime:
        entry = playlist.entries[index]
        if entry.pdt is not None:
            return entry.pdt
        if self.last_seq is not None and entry.seq == self.last_seq + 1 and self.last_end:
            return self.last_end
        # No PDT: the newest segment ended about when we fetched the playlist.
        after = sum(e.duration for e in playlist.entries[index:])
        return fetched_at - timedelta(seconds=after)

    def _wanted(self, playlist: MediaPlaylist, fetched_at: datetime) -> list[int]:
        """Indexes of the playlist entries to fetch now."""
        entries = playlist.entries
        if self.last_seq is not None:
            return [i for i, e in enumerate(entries) if e.seq > self.last_seq]
        if self.last_end is not None:
            # A new part of a resumed recording, or after a reset: take what is newer.
            return [
                i
                for i in range(len(entries))
                if self._start_time(playlist, i, fetched_at) >= self.last_end - timedelta(seconds=1)
            ]
        if not entries:
            return []
        # A fresh recording starts at the live edge (plus the requested backfill).
        edge = self._start_time(playlist, len(entries) - 1, fetched_at)
        since = edge - timedelta(seconds=self.backfill_s)
        return [
            i for i in range(len(entries)) if self._start_time(playlist, i, fetched_at) >= since
        ]

    async def _take(self, playlist: MediaPlaylist, index: int, fetched_at: datetime) -> bool:
        """Download and keep one entry. False when the playlist must be reloaded first."""
        assert self.writer is not None
        entry: Entry = playlist.entries[index]
        start = self._start_time(playlist, index, fetched_at)
        # The segment that straddles ``until`` is kept when most of it lies before.
        midpoint = start + timedelta(seconds=entry.duration / 2)
        if self.until is not None and midpoint >= self.until:
            self.until_seen = True
            return False
        if entry.discontinuity and self.last_end is not None:
            self.pending_part_reason = self.pending_part_reason or "discontinuity"
        try:
            data = await self._download(entry)
        except HttpError as exc:
            if exc.status in (403, 410):
                await self._re_resolve(f"segment {entry.seq}: HTTP {exc.status}")
                return False
            log.warning("%s: segment %d lost: %s", self.url, entry.seq, exc)
            self.last_error = f"segment {entry.seq}: {exc}"
            self.missed.setdefault(entry.seq, 1)
            return True
        except (httpx.HTTPError, CaptureError) as exc:
            log.warning("%s: segment %d lost: %s", self.url, entry.seq, _describe(exc))
            self.last_error = f"segment {entry.seq}: {_describe(exc)}"
            self.missed.setdefault(entry.seq, 1)
            return True
        if not looks_like_ts(data):
            log.warning("%s: segment %d is not MPEG-TS (%d bytes)", self.url, entry.seq, len(data))
            self.last_error = f"segment {entry.seq} is not MPEG-TS"
            return True
        await self._before_segment(entry, start)
        pdt = entry.pdt is not None
        await self._write(
            self.writer.write_segment, self.part, entry.seq, data, start, entry.duration, pdt
        )
        self.last_seq, self.last_end = entry.seq, start + timedelta(seconds=entry.duration)
        self.segments += 1
        self.bytes += len(data)
        self.last_new_at = time.monotonic()
        self.extensions = 0
        self._progress()
        return True

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
            except (httpx.HTTPError, CaptureError):
                continue
            if not looks_like_ts(data):
                continue
            start = self._start_time(playlist, index, fetched_at)
            pdt = entry.pdt is not None
            await self._write(
                self.writer.write_segment, self.part, seq, data, start, entry.duration, pdt
            )
            del self.missed[seq]
            self.segments += 1
            self.bytes += len(data)
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
        if self.last_end is None:
            return
        hole = (start - self.last_end).total_seconds()
        if hole <= GAP_TOLERANCE_S:
            return
        if self.last_seq is not None and entry.seq > self.last_seq + 1:
            first, last = self.last_seq + 1, entry.seq - 1
            why = f"segment {first} missed" if first == last else f"segments {first}-{last} missed"
        else:
            why = f"no segments for {hole:.1f}s"
        await self._write(self.writer.gap, self.last_end, start, why)
        self.gaps += 1

    async def _download(self, entry: Entry) -> bytes:
        return await self._get_retrying(entry.url, MAX_SEGMENT_BYTES)

    async def _get_retrying(self, url: str, limit: int) -> bytes:
        """GET with retries (backoff + jitter) on 5xx, timeouts and connection errors.

        A plain loop: the policy tenacity's ``wait_exponential_jitter`` gave, without building
        its retry objects for every segment.
        """
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return await self._get(url, limit)
            except Exception as exc:
                if attempt == RETRY_ATTEMPTS or not _transient(exc):
                    raise
            backoff = RETRY_WAIT_S * 2 ** (attempt - 1) + random.uniform(0, RETRY_JITTER_S)
            await asyncio.sleep(min(backoff, RETRY_MAX_WAIT_S))
        raise AssertionError("unreachable")

    # ---- the loop ----------------------------------------------------------------------

    async def _poll_once(self) -> float:
        """Fetch the playlist, keep new segments; returns how long to wait before the next."""
        assert self.media_url is not None
        fetched_at = now()
        url = self.media_url
        try:
            body = await self._get(url, MAX_PLAYLIST_BYTES)
            if self._last_playlist is not None and (url, body) == self._last_playlist[:2]:
                parsed: MediaPlaylist | list[Variant] = self._last_playlist[2]
            else:  # the same bytes parse to the same playlist: parse only when they changed
                parsed = parse(body.decode("utf-8", "replace"), url)
        except HttpError as exc:
            self.failures += 1
            self.last_error = f"playlist: HTTP {exc.status}"
            if exc.status in (403, 410):
                await self._re_resolve(f"playlist HTTP {exc.status}")
            return self._backoff()
        except (httpx.HTTPError, CaptureError) as exc:
            self.failures += 1
            self.last_error = f"playlist: {_describe(exc)}"
            # not a playlist at all, again and again, before anything was kept: give up
            fresh = self.segments == 0 and not self.resumed
            if fresh and isinstance(exc, CaptureError) and self.failures >= FIRST_POLL_FAILURES:
                raise _Finish("failed", str(exc)) from exc
            return self._backoff()
        if isinstance(parsed, list):  # the URL now serves a master playlist
            variant = choose_variant(parsed, self.settings.max_height)
            self.media_url = variant.url
            return 0.0
        self.failures = 0
        self.last_error = None
        playlist = parsed
        self._last_playlist = (url, body, playlist)
        if self._is_stale(playlist):
            log.info("%s: stale playlist (sequence %d), ignored", self.url, playlist.media_sequence)
            return playlist.target_duration / 2
        reset = self._detect_reset(playlist)
        if reset is not None:
            # The old numbering means nothing now; continue by time.
            self.pending_part_reason, self.last_seq = reset, None
            self.missed.clear()
        else:
            await self._refill(playlist, fetched_at)
        self.target = playlist.target_duration
        self.ever_listed = self.ever_listed or bool(playlist.entries)
        self.prev_media_sequence = playlist.media_sequence
        changed = playlist.digest != self.last_digest
        self.last_digest = playlist.digest
        for index in self._wanted(playlist, fetched_at):
            if self.stop.is_set():
                break
            # a backlog of failing downloads must not starve the stall watchdog
            if time.monotonic() - self.last_new_at >= self.stall_timeout_s:
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
        idle = time.monotonic() - self.last_new_at
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
            fresh = await self._resolve()
        except ResolveError as exc:
            raise _Finish("stalled", f"{detail}; resolver: {exc}") from exc
        if fresh.has_ended:
            raise _Finish("ended", f"the broadcast ended ({fresh.live_status}); {detail}")
        if fresh.is_live and self.extensions < MAX_STALL_EXTENSIONS:
            self.extensions += 1
            log.warning(
                "%s: %s but still live; new manifest (%d)", self.url, detail, self.extensions
            )
            with contextlib.suppress(StreamerError, httpx.HTTPError):
                await self._adopt(fresh)
            self.last_new_at = time.monotonic()
            return
        raise _Finish("stalled", f"{detail} (resolver says {fresh.live_status})")

    async def _loop(self) -> None:
        while True:
            if self.stop.is_set():
                raise _Finish("stopped", "stop requested")
            if self.until is not None:
                late = (now() - self.until).total_seconds()
                if self.until_seen or late > max(10.0, 3 * self.target):
                    raise _Finish("stopped", f"reached the end time {iso(self.until)}")
            info = self.info
            if info and info.expires_at and (info.expires_at - now()).total_seconds() < 60:
                await self._re_resolve("manifest URL expires")
            wait = await self._poll_once()
            await self._check_stall()
            if self.until_seen:
                continue
            await self._sleep(wait)

    async def run(self) -> RecordResult:
        try:
            return await self._run()
        finally:
            if self._own_client and self._client is not None:
                await self._client.aclose()

    async def _run(self) -> RecordResult:
        self._resume_state()
        try:
            info = await self._resolve()
        except ResolveError as exc:
            # resuming, the broadcast was live a moment ago: let the caller watch again
            return self._result("stalled" if self.resumed else "failed", str(exc))
        # An unknown status with a manifest (a generic URL) is tried: the playlist tells.
        if not info.is_live and not (info.live_status is None and info.manifest_url):
            if info.is_upcoming:
                when = f", expected {iso(info.release_time)}" if info.release_time else ""
                state: State = "stalled" if self.resumed else "failed"
                return self._result(state, f"the broadcast has not started yet{when}")
            if not (self.resumed and info.manifest_url):
                status = info.live_status or "unknown"
                return self._result("ended", f"the broadcast is not live ({status})")
        try:
            await self._adopt(info)
        except (StreamerError, httpx.HTTPError) as exc:
            return self._result("failed", f"{self.url}: {_describe(exc)}")
        if self.media_url is None:
            return self._result("failed", f"{self.url}: no HLS manifest to record")
        try:
            self.writer = TimelineWriter(self.out_dir)
            await self._write(self._write_meta)
            await self._write(self.writer.start)
        except _Finish as fin:
            return self._finish(fin.state, fin.reason)
        except OSError as exc:
            return self._result("failed", f"cannot write in {self.out_dir}: {exc}")
        self.last_new_at = time.monotonic()
        try:
            await self._loop()
        except _Finish as fin:
            return self._finish(fin.state, fin.reason)
        except asyncio.CancelledError:
            self._finish("stopped", "cancelled")
            raise
        except Exception as exc:  # never leave without an end row
            log.exception("%s: recorder failed", self.url)
            return self._finish("failed", f"unexpected error: {exc!r}")
        raise AssertionError("unreachable")

    def _write_meta(self) -> None:
        assert self.writer is not None
        existing = Timeline.load(self.out_dir).meta
        info = self.info
        meta = {
            "source_url": self.url,
            "created_at": existing.get("created_at") or iso(self.started_at),
            "title": info.title if info else None,
            "video_id": info.video_id if info else None,
            **{k: v for k, v in existing.items() if k not in ("source_url", "created_at")},
            **self.meta,
            "updated_at": iso(now()),
        }
        self.writer.write_meta(meta)

    def _finish(self, state: State, reason: str) -> RecordResult:
        if self.writer is not None:
            try:
                self.writer.end(state, reason)
            except OSError as exc:
                log.error("%s: cannot write the end row: %s", self.url, exc)
            with contextlib.suppress(OSError):  # ENOSPC again while flushing that row
                self.writer.close()
            self.writer = None
        log.info("%s: %s: %s", self.url, state, reason)
        self._progress(state)
        return self._result(state, reason)

    def _result(self, state: State, reason: str) -> RecordResult:
        return RecordResult(
            state=state,
            reason=reason,
            out_dir=self.out_dir,
            segments=self.segments,
            bytes=self.bytes,
            gaps=self.gaps,
            parts=self.parts_opened,
            started_at=self.started_at,
            ended_at=now(),
            info=self.info,
        )


async def record(
    url: str,
    out_dir: Path,
    *,
    resolver: ResolverLike | None = None,
    until: datetime | None = None,
    duration_s: float | None = None,
    stall_timeout_s: float = 60.0,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    meta: dict[str, Any] | None = None,
    settings: Settings | None = None,
    backfill_s: float = 0.0,
    client: httpx.AsyncClient | None = None,
) -> RecordResult:
    """Record the live broadcast at ``url`` into ``out_dir`` (resuming what is there).

    Stops at ENDLIST, at ``until`` (or ``duration_s`` from now), when ``stop`` is set, or
    when no segment came for ``stall_timeout_s`` and the broadcast is no longer live.
    ``backfill_s`` also keeps that many seconds of the playlist window behind the live edge
    on a fresh start. Never raises for capture problems: the result says what happened.
    """
    if duration_s is not None:
        end = now() + timedelta(seconds=duration_s)
        until = end if until is None else min(until, end)
    settings = settings or (resolver.settings if isinstance(resolver, Resolver) else Settings())
    recorder = Recorder(
        url,
        out_dir,
        resolver=resolver or Resolver(settings),
        settings=settings,
        until=until,
        stall_timeout_s=stall_timeout_s,
        stop=stop or asyncio.Event(),
        on_progress=on_progress,
        meta=meta,
        backfill_s=backfill_s,
        client=client,
    )
    return await recorder.run()
