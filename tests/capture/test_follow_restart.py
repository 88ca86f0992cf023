"""Issue 14, defects 1 and 2: the capture task of a broadcast (pipeline/capture_task.py) on the
loopback YouTube: the restart watch honours the late limit, and a channel's /live showing
yesterday's video is no end.

Time is a FakeClock shared by the site, the media and the capture task (as in the other
test_follow_* tests), held while a resolve runs: a slow resolve on a loaded machine takes no
simulated time, so the scenario is the same however fast the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from streamer.capture.clock import FakeClock
from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.pipeline.capture_task import Captures, recording_dir
from streamer.pipeline.states import BroadcastState
from streamer.pipeline.store import Store
from streamer.schedule.load import program_from_data
from streamer.simulate import ReplayServer
from streamer.simulate.youtube_site import HANDLE, Screen, Video, YouTubeSite
from streamer.timeutil import iso
from streamer.youtube import Resolver
from tests.capture.loopback import Media
from tests.capture.test_follow_capture import Held as HeldResolve

LIVE_URL = f"https://www.youtube.com/{HANDLE}/live"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def site(clock: FakeClock) -> Iterator[YouTubeSite]:
    with YouTubeSite(clock=clock.now) as running:
        yield running


@pytest.fixture
def media(replay_cache: Path, clock: FakeClock, site: YouTubeSite) -> Iterator[Media]:
    source = ReplayServer(replay_cache, width=320, height=180, count=6).source_dir
    served = Media.from_dir(source, clock.now, before=site.tick)
    yield served
    served.close()


class Held(HeldResolve):
    """The timed loopback resolver; the backfill's ``extract`` holds the fake clock too."""

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        with self.clock.hold():
            return self.inner.extract(url, live_from_start=live_from_start)


def go_live(
    site: YouTubeSite,
    media: Media,
    video_id: str,
    start: datetime,
    end: datetime,
    page_lag: timedelta = timedelta(0),
) -> None:
    """A stream on /live from ``start``; at ``end`` its playlist ends and, ``page_lag`` later,
    the page says the video is over."""
    media.add(video_id, start, ended=end)
    video = Video(
        video_id, Screen.LIVE, started_at=start, hls_manifest_url=media.master_url(video_id)
    )
    site.add(video, on_live=True)

    def over(_: YouTubeSite) -> None:
        video.screen, video.ended_at = Screen.WAS_LIVE, end

    # the page says "was live" as the playlist ends: while /live still showed an ended stream
    # as live, the capture task would re-record it at once, with no sleep in between, and on
    # the fake clock (which moves only on sleeps) that loop never lets time pass
    site.at(end + page_lag, over)


def captures(
    tmp_path: Path,
    site: YouTubeSite,
    clock: FakeClock,
    start: datetime,
    end: datetime,
    events: list[tuple[str, dict[str, Any]]] | None = None,
) -> Captures:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        schedules=tmp_path / "schedules",
        late_limit_s=30,
        watch_poll_s=1.0,
        watch_lead_s=60,
        stall_timeout_s=20,
    )
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.sync_program(
        program_from_data(
            {
                "event": {"id": "fest", "title": "Fest", "timezone": "UTC"},
                "broadcasts": [
                    {"id": "main", "url": LIVE_URL, "start": iso(start), "end": iso(end)}
                ],
                "sessions": [
                    {
                        "id": "talk",
                        "broadcast": "main",
                        "start": iso(start),
                        "end": iso(end),
                        "title": "Talk",
                    }
                ],
            }
        )
    )
    events = [] if events is None else events
    return Captures(
        settings,
        store,
        cast(Resolver, Held(Resolver(ydl_class=site.ydl_class()), clock)),
        emit=lambda kind, payload: events.append((kind, payload)),
        on_end=lambda event_id, broadcast_id: None,
        clock=clock,
    )


def follow_until(
    caps: Captures, clock: FakeClock, video_id: str, over: datetime, deadline_s: float
) -> Timeline:
    """Run the capture task until the recording holds ``video_id``'s stream, ended at ``over``
    (the deadline is real time: a bound on a hang, the scenario runs on the fake clock).

    Not on the first end row with ``video_id`` in the metadata: the recorder writes the new
    video's id before its ``start`` row, so for a moment the previous video's end row is the
    last one, and a loaded machine let the old check stop there, before any overrun segment.
    """
    rec = recording_dir(caps.settings, "fest", "main")

    async def main() -> Timeline:
        caps.start("fest", "main")
        loop = asyncio.get_running_loop()
        limit = loop.time() + deadline_s
        try:
            while loop.time() < limit:
                await asyncio.sleep(0.05)
                timeline = Timeline.load(rec)
                if (
                    clock.now() >= over
                    and video_id in (timeline.meta.get("video_ids") or [])
                    and timeline.end_state
                ):
                    break
        finally:
            await caps.stop("fest", "main")
        return Timeline.load(rec)

    return asyncio.run(main())


def test_restart_after_the_scheduled_end_is_recorded(
    tmp_path: Path, clock: FakeClock, site: YouTubeSite, media: Media
) -> None:
    start = clock.now()
    end = start + timedelta(seconds=16)
    # drops 4 s before the scheduled end, comes back as a new video 5 s after it
    go_live(site, media, "firstpart01", start - timedelta(seconds=2), end - timedelta(seconds=4))
    back = end + timedelta(seconds=5)
    # the overrun lasts 20 s, inside the 30 s late limit
    site.at(back, lambda s: go_live(s, media, "overrun0001", back, back + timedelta(seconds=20)))
    caps = captures(tmp_path, site, clock, start, end)
    timeline = follow_until(caps, clock, "overrun0001", back + timedelta(seconds=20), 240)
    overrun = [s for s in timeline.segments if s.start >= back]
    assert len(overrun) >= 3, [(s.part, s.seq, s.start) for s in timeline.segments]
    assert timeline.meta.get("video_ids") == ["firstpart01", "overrun0001"]


def test_live_url_on_yesterdays_video_still_records_todays(
    tmp_path: Path, clock: FakeClock, site: YouTubeSite, media: Media
) -> None:
    start = clock.now()
    end = start + timedelta(seconds=20)
    yesterday = Video(
        "yesterday01",
        Screen.WAS_LIVE,
        started_at=start - timedelta(days=1),
        ended_at=start - timedelta(hours=20),
    )
    site.add(yesterday, on_live=True)
    live = start + timedelta(seconds=4)
    site.at(live, lambda s: go_live(s, media, "todays00001", live, live + timedelta(seconds=12)))
    caps = captures(tmp_path, site, clock, start, end)
    timeline = follow_until(caps, clock, "todays00001", live + timedelta(seconds=12), 240)
    assert len(timeline.segments) >= 3
    assert timeline.meta.get("video_ids") == ["todays00001"]


def test_a_page_still_live_after_the_playlist_ended_is_polled_not_re_recorded(
    tmp_path: Path, clock: FakeClock, site: YouTubeSite, media: Media
) -> None:
    """YouTube flips /live to "was live" some time after the stream's playlist ends. Meanwhile
    the capture waits a poll between looks: no loop of resolves, and one ``broadcast.ended``
    (the old loop re-recorded at once, marking and sending it each turn, and on the fake
    clock never let time pass)."""
    start = clock.now()
    end = start + timedelta(seconds=16)
    stream_end = end - timedelta(seconds=4)
    lag = timedelta(seconds=12)
    go_live(site, media, "laggypage01", start - timedelta(seconds=2), stream_end, page_lag=lag)
    events: list[tuple[str, dict[str, Any]]] = []
    caps = captures(tmp_path, site, clock, start, end, events)
    resolver = cast(Held, caps.resolver)

    async def main() -> None:
        caps.start("fest", "main")
        loop = asyncio.get_running_loop()
        guard = loop.time() + 240  # real time: a bound on a hang only
        try:
            while loop.time() < guard:
                await asyncio.sleep(0.05)
                state = caps.store.broadcast("fest", "main").state
                if state == BroadcastState.ENDED and clock.now() >= end + timedelta(seconds=30):
                    break
        finally:
            await caps.stop("fest", "main")

    asyncio.run(main())
    lagging = [t for t in resolver.calls if stream_end <= t < stream_end + lag]
    # one look per 1 s poll while the page lags, not one per (instant) re-record
    assert 1 <= len(lagging) <= lag.total_seconds() / caps.settings.watch_poll_s + 2, lagging
    assert [k for k, _ in events].count("broadcast.ended") == 1, events
    assert clock.now() >= end + timedelta(seconds=30)  # the window ran out: time did pass
