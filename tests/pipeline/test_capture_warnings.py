"""A watch's trouble: the broadcast's state carries each reason, the ``broadcast.warning``
webhook goes out once per broadcast and kind."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from streamer.capture.watcher import WatchStatus
from streamer.pipeline.capture_warnings import WatchWarnings
from streamer.pipeline.rows import BroadcastView
from streamer.pipeline.states import BroadcastState

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def _broadcast(bid: str, url: str) -> BroadcastView:
    return BroadcastView(
        "fest", bid, url, T0, T0, BroadcastState.WATCHING, None, None, None, removed=False
    )


def _warnings() -> tuple[WatchWarnings, list[tuple[str, str | None]], list[dict[str, Any]]]:
    marks: list[tuple[str, str | None]] = []
    sent: list[dict[str, Any]] = []

    def mark(b: BroadcastView, state: BroadcastState, reason: str | None) -> Future[None]:
        marks.append((b.id, reason))
        done: Future[None] = Future()
        done.set_result(None)
        return done

    def emit(kind: str, payload: dict[str, Any]) -> None:
        assert kind == "broadcast.warning"
        sent.append(payload)

    return WatchWarnings(mark, emit), marks, sent


def _status(kind: str | None, error: str = "boom", hint: str | None = None) -> WatchStatus:
    return WatchStatus(attempt=1, info=None, error=error, next_poll_s=30.0, kind=kind, hint=hint)


def test_each_kind_is_sent_once_per_broadcast_and_every_reason_is_marked() -> None:
    warnings, marks, sent = _warnings()
    a = _broadcast("a", "https://www.youtube.com/watch?v=abcdefghijk")
    b = _broadcast("b", "https://www.youtube.com/watch?v=bcdefghijkl")
    warnings.on_watch(a, _status("bot_check", "sign in", "cookies"))
    warnings.on_watch(a, _status("bot_check", "sign in again"))
    warnings.on_watch(a, _status("rate_limited", "429"))
    warnings.on_watch(b, _status("bot_check", "sign in"))
    warnings.on_watch(a, _status("not_live_yet"))  # the normal wait: no warning, no mark
    warnings.on_watch(a, _status(None))
    assert [(p["broadcast_id"], p["kind"]) for p in sent] == [
        ("a", "bot_check"),
        ("a", "rate_limited"),
        ("b", "bot_check"),
    ]
    assert sent[0] == {
        "event_id": "fest",
        "broadcast_id": "a",
        "kind": "bot_check",
        "reason": "sign in",
        "hint": "cookies",
    }
    assert marks == [
        ("a", "bot_check: sign in (hint: cookies)"),
        ("a", "bot_check: sign in again"),
        ("a", "rate_limited: 429"),
        ("b", "bot_check: sign in"),
    ]


def test_a_watch_url_that_ended_is_warned_once_and_a_channel_live_url_never() -> None:
    warnings, marks, sent = _warnings()
    watch = _broadcast("a", "https://www.youtube.com/watch?v=abcdefghijk")
    channel = _broadcast("b", "https://www.youtube.com/@forum/live")
    for _ in range(3):
        warnings.watch_url_ended(watch)
        warnings.watch_url_ended(channel)
    assert [(p["broadcast_id"], p["kind"], p["hint"]) for p in sent] == [
        ("a", "watch_url_ended", "use the channel's /live URL")
    ]
    assert len(marks) == 3 and all(m[0] == "a" for m in marks)
