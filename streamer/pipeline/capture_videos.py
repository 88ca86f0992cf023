"""Which YouTube videos a capture followed: an ended one of these seen again on /live is the
end of the capture's own stream, not a new one."""

from __future__ import annotations

from pathlib import Path

from streamer.capture.hls import RecordResult
from streamer.capture.timeline import Timeline
from streamer.youtube import BroadcastInfo


def video_of(info: BroadcastInfo | None) -> str:
    return (info.video_id or "") if info is not None else ""


def recorded_videos(rec_dir: Path, outcome: RecordResult) -> set[str]:
    """The video ids a recording followed (an ended one of these on /live is our end)."""
    ids = {str(v) for v in Timeline.load(rec_dir).meta.get("video_ids") or []}
    if outcome.info is not None and outcome.info.video_id:
        ids.add(outcome.info.video_id)
    return ids
