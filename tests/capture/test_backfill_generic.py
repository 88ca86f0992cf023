"""Generic HLS sources (issue 11, item 4): no DVR, so what the playlist still lists is all a
recording can get back. An EVENT playlist keeps every segment, so an outage far longer than
a sliding window is filled on restart; a sliding-window source cannot, and its gap stays
explicit with the reason. The sources run on a clock the test jumps (no waiting out the
outage)."""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path

from streamer.capture.backfill import GENERIC_REASON, heal_directory
from streamer.capture.hls import Progress, record
from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.netguard import Policy
from streamer.simulate import M3U8_TYPE, TS_TYPE, Response
from streamer.youtube import Resolver, ResolverOptions
from tests.capture.yt_support import ShiftClock
from tests.conftest import ScriptedLive

WINDOW = 10  # segments of 1 s: a normal sliding window
OUTAGE_S = 60  # six windows
SETTINGS = Settings(allow_private_sources=True)  # the sources are on 127.0.0.1
RESOLVER = Resolver(ResolverOptions(policy=Policy(allow_private=True)))


class EventLive(ScriptedLive):
    """The same broadcast as an EVENT playlist: every segment stays listed and served."""

    def playlist(self) -> str:
        with self._lock:
            self._produce()
            listed = list(self._run)
            self.served.append([seq for seq, _, _ in listed])
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            "#EXT-X-PLAYLIST-TYPE:EVENT",
            f"#EXT-X-TARGETDURATION:{math.ceil(self.segment_s)}",
            f"#EXT-X-MEDIA-SEQUENCE:{listed[0][0] if listed else 0}",
        ]
        for seq, pdt, _ in listed:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt.isoformat(timespec='milliseconds')}")
            lines.append(f"#EXTINF:{self.segment_s:.3f},")
            lines.append(f"seg{seq}.ts")
        return "\n".join(lines) + "\n"

    def _route(self, path: str) -> Response | None:
        if path == "/media.m3u8":
            return (200, M3U8_TYPE, self.playlist().encode())
        match = re.fullmatch(r"/seg(\d+)\.ts", path)
        if match is None:
            return None
        with self._lock:
            self._produce()
            data = {seq: d for seq, _, d in self._run}.get(int(match.group(1)))
        return None if data is None else (200, TS_TYPE, data)


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
