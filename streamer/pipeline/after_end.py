"""Recording a broadcast from its source after its end (post-live fragments, the archive):
whether an ended video is the capture's own to record so, the recording, and what it got."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from streamer.capture.backfill import record_after_end
from streamer.capture.heal import HealReport
from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.errors import StreamerError
from streamer.pipeline.capture_writes import CaptureWrites
from streamer.pipeline.states import BroadcastState
from streamer.pipeline.store import BroadcastView
from streamer.youtube import BroadcastInfo, Resolver

B = BroadcastState


async def record_from_source(
    b: BroadcastView,
    rec_dir: Path,
    info: BroadcastInfo,
    stop: asyncio.Event,
    *,
    resolver: Resolver,
    settings: Settings,
    db: CaptureWrites,
    mark: Callable[[BroadcastView, BroadcastState, str | None], Awaitable[None]],
    emit: Callable[[str, dict[str, Any]], None],
    closing: Callable[[], bool],
) -> None:
    """Record the broadcast from the source after its end, then mark it ended (final), so
    its sessions split and publish as usual. ``mark`` changes the state and waits for it."""
    assert b.url is not None
    status = info.live_status
    await mark(b, B.WATCHING, f"ended before all of it was recorded: recording it from {status}")
    meta: dict[str, Any] = {"event_id": b.event_id, "broadcast_id": b.id}
    if info.video_id:
        meta["video_id"] = info.video_id
        meta["video_ids"] = [info.video_id]
    heal = asyncio.ensure_future(
        record_after_end(b.url, rec_dir, resolver=resolver, settings=settings, meta=meta)
    )
    halt = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({heal, halt}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        halt.cancel()
    if not heal.done():  # stopped: what is written stays; the next watch resumes it
        heal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heal
        if not closing():
            await mark(b, B.PLANNED, "stopped")
        return
    if not db.owned():
        return
    try:
        report = heal.result()
    except StreamerError as exc:
        await db.saved(b.event_id, b.id, state="failed", reason=str(exc))
        await mark(b, B.ENDED, f"ended before all of it was recorded; {status}: {exc}")
        return
    timeline = Timeline.load(rec_dir)
    await db.saved(
        b.event_id,
        b.id,
        state="ended",
        reason=after_end_reason(report),
        segments=len(timeline.segments),
        bytes=sum(s.bytes for s in timeline.segments),
        gaps=len(report.remaining),
    )
    await mark(b, B.ENDED, f"recorded after the end: {after_end_reason(report)}")
    emit(
        "broadcast.ended",
        {"event_id": b.event_id, "broadcast_id": b.id, "state": "ended", "source": status},
    )


def ours(info: BroadcastInfo | None, until: datetime) -> bool:
    """An ended video to record from the source afterwards: a YouTube broadcast that went
    live before this window closed (the watcher already refused an older video on a
    channel's /live)."""
    if info is None or info.live_status not in ("post_live", "was_live"):
        return False
    return info.release_time is None or info.release_time <= until


def after_end_reason(report: HealReport) -> str:
    """What an after-the-end recording got, and why anything is missing."""
    got = ", ".join(f"{src} {s:.0f}s" for src, s in report.by_source.items() if s > 0)
    text = f"from {report.status}: {got or 'nothing'}"
    reasons = sorted({reason for _, _, reason in report.remaining})
    if reasons:
        text += "; missing: " + "; ".join(reasons)
    return text
