"""A watch's trouble told to the media team: the real reason goes to the broadcast's state,
and a ``broadcast.warning`` webhook goes out once per broadcast and kind."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from streamer.capture.watcher import WatchStatus, is_channel_live_url
from streamer.pipeline.states import BroadcastState
from streamer.pipeline.store import BroadcastView

B = BroadcastState
Emit = Callable[[str, dict[str, Any]], None]
Mark = Callable[[BroadcastView, BroadcastState, str | None], Future[None]]


class WatchWarnings:
    """Warnings of the watches of one :class:`~streamer.pipeline.capture_task.Captures`."""

    def __init__(self, mark: Mark, emit: Emit) -> None:
        self._mark = mark
        self._emit = emit
        self._warned: set[tuple[str, str, str]] = set()  # warnings sent once per broadcast

    def on_watch(self, b: BroadcastView, status: WatchStatus) -> None:
        """A watch poll that found trouble: the real reason goes to the state and a webhook."""
        if status.kind is None or status.kind in ("not_live_yet", "resolve_error"):
            return
        reason = f"{status.kind}: {status.error}"
        if status.hint:
            reason += f" (hint: {status.hint})"
        self._mark(b, B.WATCHING, reason)
        self._once(b, status.kind, status.error, status.hint)

    def watch_url_ended(self, b: BroadcastView) -> None:
        """A watch URL cannot follow a stream that YouTube restarted as a new video."""
        assert b.url is not None
        if is_channel_live_url(b.url):
            return
        reason = (
            "the recorded video ended; if the stream restarted as a new video, this watch URL "
            "cannot follow it: use the channel's /live URL"
        )
        self._mark(b, B.WATCHING, reason)
        self._once(b, "watch_url_ended", reason, "use the channel's /live URL")

    def _once(self, b: BroadcastView, kind: str, reason: str | None, hint: str | None) -> None:
        key = (b.event_id, b.id, kind)
        if key in self._warned:
            return
        self._warned.add(key)
        self._emit(
            "broadcast.warning",
            {
                "event_id": b.event_id,
                "broadcast_id": b.id,
                "kind": kind,
                "reason": reason,
                "hint": hint,
            },
        )
