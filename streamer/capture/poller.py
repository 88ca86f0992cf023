"""The poll loop of a recording: reload the media playlist, keep each new segment once.

:class:`Poller` does one poll at a time: fetch the playlist, detect a stale copy or a reset,
keep the new segments (:mod:`~streamer.capture.poll_segments`), adopt background re-resolves
and watch for stalls (:mod:`~streamer.capture.poll_source`), until a final state. Its state is
:class:`~streamer.capture.poll_state.PollState`; :mod:`streamer.capture.hls` wraps it into a
whole recording.
"""

from __future__ import annotations

import logging
import random

from streamer.capture import position
from streamer.capture.playlist import MediaPlaylist, Variant, choose_variant, parse
from streamer.capture.poll_segments import SegmentKeeping
from streamer.capture.poll_source import SourceWatch
from streamer.capture.poll_state import _Finish
from streamer.capture.refresh import MAX_PLAYLIST_BYTES
from streamer.errors import CaptureError, FetchError
from streamer.timeutil import iso

log = logging.getLogger(__name__)

FIRST_POLL_FAILURES = 3
# A media playlist answering these is gone or refused: ask the resolver for a new URL.
RERESOLVE_STATUS = (403, 404, 410)
# Re-resolve this long before the manifest URL expires.
EXPIRY_MARGIN_S = 60.0


class Poller(SegmentKeeping, SourceWatch):
    """The state of one recording and its poll loop; :class:`~streamer.capture.hls.Recorder`
    runs it."""

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
