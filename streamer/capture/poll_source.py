"""Following the source: adopt a (re-)resolved media playlist, and the stall watchdog that
decides between a new manifest, ``ended`` and ``stalled`` when no segment comes.
"""

from __future__ import annotations

import contextlib
import logging

from streamer.capture.poll_state import PollState, _Finish
from streamer.capture.refresh import Located, locate
from streamer.errors import ResolveError, StreamerError

log = logging.getLogger(__name__)

# While the resolver still says "live" but no segment comes, re-resolve this many times.
MAX_STALL_EXTENSIONS = 3


class SourceWatch(PollState):
    """Resolving and stall decisions of a recording's poll loop."""

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

    # ---- the stall watchdog ----------------------------------------------------------

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
