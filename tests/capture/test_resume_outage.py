"""A recording resumed (a service restart) while the source is down rides the outage out, as
the live loop would, instead of failing the broadcast: found by the crash harness
(tests/crash/), where a restart inside the demo's outage ended the whole day's capture."""

from __future__ import annotations

import asyncio
from pathlib import Path

from streamer.capture.hls import RecordResult, record
from streamer.capture.timeline import Timeline
from streamer.simulate.youtube_media import Content
from tests.capture.yt_support import URL, record_segments, youtube

OUTAGE_S = 8.0  # beyond the fetch's own retries (about 2 s)


def test_a_resumed_recording_waits_out_a_source_outage(yt_content: Content, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content) as (media, clock, resolver):
        record_segments(resolver, out, 2)  # what the killed process had recorded
        before = len(Timeline.load(out).segments)
        media.outage_until = clock() + OUTAGE_S  # every request answers 503 until then

        async def resume() -> RecordResult:
            stop = asyncio.Event()

            def on_progress(p: object) -> None:
                if getattr(p, "segments", 0) >= 2:
                    stop.set()

            return await record(
                URL, out, resolver=resolver, stop=stop, on_progress=on_progress,
                stall_timeout_s=120,
            )  # fmt: skip

        result = asyncio.run(resume())
    assert result.state == "stopped", (result.state, result.reason)
    assert len(Timeline.load(out).segments) >= before + 2
