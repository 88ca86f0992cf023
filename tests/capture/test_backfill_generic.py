"""Generic HLS sources (issue 11, item 4): no DVR, so what the playlist still lists is all a
recording can get back. An EVENT playlist keeps every segment, so an outage far longer than
a sliding window is filled on restart; a sliding-window source cannot, and its gap stays
explicit with the reason. The sources run on a clock the test jumps (no waiting out the
outage)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from streamer.capture.backfill import GENERIC_REASON, heal_directory
from streamer.capture.hls import Progress, record
from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.netguard import Policy
from streamer.youtube import Resolver, ResolverOptions
from tests.capture.yt_support import ShiftClock
from tests.conftest import ScriptedLive

WINDOW = 10  # segments of 1 s: a normal sliding window
OUTAGE_S = 60  # six windows
SETTINGS = Settings(allow_private_sources=True)  # the sources are on 127.0.0.1
RESOLVER = Resolver(ResolverOptions(policy=Policy(allow_private=True)))


class EventLive(ScriptedLive):
    """The same broadcast as an EVENT playlist: every segment stays listed and served."""

    def __init__(self, segments: list[bytes], **options: Any) -> None:
        super().__init__(segments, **options)  # the first window is made at once
        self.window = sys.maxsize  # from then on nothing leaves the playlist or the disk

    def playlist(self) -> str:
        version = "#EXT-X-VERSION:3\n"
        return super().playlist().replace(version, version + "#EXT-X-PLAYLIST-TYPE:EVENT\n", 1)


def _record_until(src: ScriptedLive, out: Path, newest: int) -> None:
    """Record (or resume) until the segment ``newest`` is kept."""

    async def main() -> None:
        stop = asyncio.Event()

        def on_progress(p: Progress) -> None:
            if p.last_seq is not None and p.last_seq >= newest:
                stop.set()

        await record(
            src.url,
            out,
            resolver=RESOLVER,
            settings=SETTINGS,
            stop=stop,
            on_progress=on_progress,
            stall_timeout_s=60,
        )

    asyncio.run(main())


def _outage(src: ScriptedLive, clock: ShiftClock, out: Path) -> Timeline:
    first = src.newest_seq()
    assert first is not None
    _record_until(src, out, first + 2)
    clock.advance(OUTAGE_S)  # the recorder is down; the source goes on
    newest = src.newest_seq()
    assert newest is not None and newest >= first + OUTAGE_S
    _record_until(src, out, newest)
    return Timeline.load(out)


def test_event_playlist_fills_an_outage_longer_than_a_window(
    live_segments: list[bytes], tmp_path: Path
) -> None:
    clock = ShiftClock()
    out = tmp_path / "rec"
    with EventLive(live_segments, window=WINDOW, clock=clock) as src:
        timeline = _outage(src, clock, out)
        report = asyncio.run(heal_directory(out, RESOLVER, settings=SETTINGS))
    assert timeline.gaps() == [] and len(timeline.runs()) == 1
    seqs = [s.seq for s in timeline.segments]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len(seqs) > OUTAGE_S  # from before the outage to its end, nothing missed
    assert timeline.provenance()["live"] >= OUTAGE_S  # all of it from the playlist
    assert report.skipped and report.complete  # nothing left for a heal to ask for


def test_sliding_window_source_leaves_the_gap_explicit_with_its_reason(
    live_segments: list[bytes], tmp_path: Path
) -> None:
    clock = ShiftClock()
    out = tmp_path / "rec"
    with ScriptedLive(live_segments, window=WINDOW, clock=clock) as src:
        timeline = _outage(src, clock, out)
        [gap] = timeline.gaps()
        report = asyncio.run(heal_directory(out, RESOLVER, settings=SETTINGS))
    # the window still listed the last WINDOW seconds of the outage: the rest is lost
    assert OUTAGE_S - WINDOW - 3 <= (gap.end - gap.start).total_seconds() <= OUTAGE_S
    assert report.status is None and not report.complete
    assert [(s, e) for s, e, _ in report.remaining] == [(gap.start, gap.end)]
    assert all(reason == GENERIC_REASON for _, _, reason in report.remaining)
    reasons = {g.reason for g in Timeline.load(out).gaps()}
    assert GENERIC_REASON in reasons
