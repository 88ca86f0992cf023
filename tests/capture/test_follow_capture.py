"""Issue 14, capture side: the poller against the loopback YouTube and its test media.

yt-dlp's real extractors resolve the site's pages; the media playlists follow a FakeClock
(sequence numbers from 0 per video, a 30 s window). The clock is held while a resolve runs
in its thread, so a resolve takes no simulated time unless a scenario says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamer.capture.clock import FakeClock
from streamer.capture.hls import Progress, RecordResult, record
from streamer.capture.timeline import Timeline
from streamer.simulate import ReplayServer
from streamer.simulate.youtube_site import HANDLE, Screen, Video, YouTubeSite
from streamer.youtube import BroadcastInfo, ResolveBudget, Resolver
from tests.capture.loopback import Media

LIVE_URL = f"https://www.youtube.com/{HANDLE}/live"


class Held:
    """The loopback resolver, timed: each resolve is logged and holds the fake clock."""

    def __init__(self, inner: Resolver, clock: FakeClock) -> None:
        self.inner = inner
        self.clock = clock
        self.budget = inner.budget
        self.max_height = inner.max_height
        self.calls: list[datetime] = []
        self.delay_s = 0.0  # simulated seconds a resolve takes (after the first)

    def resolve(self, url: str) -> BroadcastInfo:
        began = self.clock.now()
        self.calls.append(began)
        if self.delay_s and len(self.calls) > 1:
            # a slow yt-dlp: its answer comes delay_s simulated seconds later
            self.clock.wait_until(began + timedelta(seconds=self.delay_s), real_timeout_s=20)
        with self.clock.hold():
            return self.inner.resolve(url)


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


@pytest.fixture
def resolver(site: YouTubeSite, clock: FakeClock) -> Held:
    return Held(Resolver(ydl_class=site.ydl_class()), clock)


def go_live(site: YouTubeSite, media: Media, video_id: str, started: datetime) -> Video:
    media.add(video_id, started)
    video = Video(
        video_id, Screen.LIVE, started_at=started, hls_manifest_url=media.master_url(video_id)
    )
    return site.add(video, on_live=True)


def run(
    clock: FakeClock, resolver: Held, out: Path, seconds: float, **kw: Any
) -> tuple[RecordResult, Timeline]:
    result = asyncio.run(
        record(
            kw.pop("url", LIVE_URL),
            out,
            resolver=resolver,
            until=clock.now() + timedelta(seconds=seconds),
            clock=clock,
            **kw,
        )
    )
    return result, Timeline.load(out)


# ---- defect 5: a media playlist 404 re-resolves -------------------------------------------


def test_vanished_variant_404_re_resolves_at_once(
    clock: FakeClock, site: YouTubeSite, media: Media, resolver: Held, tmp_path: Path
) -> None:
    t0 = clock.now()
    go_live(site, media, "variant0001", t0 - timedelta(seconds=5))
    vanish = t0 + timedelta(seconds=6)

    def variant_moves(_: YouTubeSite) -> None:
        media.videos["variant0001"].itag = 94  # 95 now answers 404; the master lists 94

    site.at(vanish, variant_moves)
    result, timeline = run(clock, resolver, tmp_path / "rec", 25, stall_timeout_s=60)
    assert result.state == "stopped", result.reason
    assert len(resolver.calls) >= 2
    assert resolver.calls[1] - vanish <= timedelta(seconds=3)  # not after the stall timeout
    assert timeline.gaps() == [], timeline.gaps()
    assert [p.reason for p in timeline.parts()] == ["start", "variant change"]


# ---- defect 6: a new video id is a part boundary, and its whole window is kept ---------------


def test_new_video_after_an_encoder_crash_opens_a_part_and_keeps_its_window(
    clock: FakeClock, site: YouTubeSite, media: Media, resolver: Held, tmp_path: Path
) -> None:
    # a long DVR-like window: the fake clock runs on while a slow (real yt-dlp) resolve is
    # pending on a loaded machine, and the new video's start must still be listed then
    media.window = 300
    t0 = clock.now()
    go_live(site, media, "crashed0001", t0 - timedelta(seconds=4))
    crash = t0 + timedelta(seconds=3)
    fresh_start = crash + timedelta(seconds=1)

    def encoder_crashes(_: YouTubeSite) -> None:
        media.videos["crashed0001"].status = 404  # the old video's playlist is gone
        media.add("newvideo001", fresh_start)  # YouTube made a new video, numbered from 0

    site.at(crash, encoder_crashes)
    # /live follows the new video only later: by then it lists more than we had of the old
    moved = crash + timedelta(seconds=12)
    site.at(moved, lambda s: go_live(s, media, "newvideo001", fresh_start))
    result, timeline = run(clock, resolver, tmp_path / "rec", 30, stall_timeout_s=60)
    assert result.state == "stopped", result.reason
    parts = timeline.parts()
    assert [p.reason for p in parts] == ["start", "new video newvideo001"]
    new_seqs = [s.seq for s in timeline.segments if s.part == parts[1].index]
    assert new_seqs[0] == 0, new_seqs  # the new video's first segments are kept
    assert new_seqs == list(range(new_seqs[0], new_seqs[-1] + 1))
    assert timeline.meta["video_ids"] == ["crashed0001", "newvideo001"]


# ---- defect 4: a slow re-resolve does not stop the polls -------------------------------------


def test_slow_re_resolve_runs_in_the_background(
    clock: FakeClock, site: YouTubeSite, media: Media, resolver: Held, tmp_path: Path
) -> None:
    t0 = clock.now()
    media.add("expiring001", t0 - timedelta(seconds=5))
    soon = int((t0 + timedelta(seconds=30)).timestamp())
    video = Video(
        "expiring001",
        Screen.LIVE,
        started_at=t0 - timedelta(seconds=5),
        hls_manifest_url=media.media_url("expiring001", expire=soon),
    )
    site.add(video, on_live=True)
    later = int((t0 + timedelta(hours=6)).timestamp())
    # the next resolve gives a fresh URL, and takes 40 simulated seconds
    site.at(
        t0 + timedelta(seconds=0.5),
        lambda s: setattr(video, "hls_manifest_url", media.media_url("expiring001", expire=later)),
    )
    resolver.delay_s = 40.0
    result, timeline = run(clock, resolver, tmp_path / "rec", 60, stall_timeout_s=60)
    assert result.state == "stopped", result.reason
    assert len(resolver.calls) == 2
    began = resolver.calls[1]
    during = [
        at
        for *_, at, _real in media.playlist_requests
        if began < at < began + timedelta(seconds=40)
    ]
    assert len(during) >= 20  # polls went on while yt-dlp worked
    assert timeline.gaps() == [], timeline.gaps()


# ---- defect 7: a persistent 403 backs off, within a per-host budget ---------------------------


def test_persistent_403_backs_off_and_says_so(
    clock: FakeClock, site: YouTubeSite, media: Media, resolver: Held, tmp_path: Path
) -> None:
    t0 = clock.now()
    go_live(site, media, "refused0001", t0 - timedelta(seconds=5))
    site.at(
        t0 + timedelta(seconds=3), lambda s: setattr(media.videos["refused0001"], "status", 403)
    )
    statuses: list[str] = []

    def progress(p: Progress) -> None:
        statuses.append(p.status)

    run(clock, resolver, tmp_path / "rec", 130, stall_timeout_s=60, on_progress=progress)
    # was: a full resolve every ~3 s (40 in 130 s)
    assert len(resolver.calls) <= 10, [(c - t0).total_seconds() for c in resolver.calls]
    assert any("backing off" in s for s in statuses)


def test_resolve_budget_is_shared_by_every_recording_on_the_host(
    clock: FakeClock, site: YouTubeSite, media: Media, tmp_path: Path
) -> None:
    t0 = clock.now()
    for name in ("blocked0001", "blocked0002"):
        media.add(name, t0 - timedelta(seconds=5))
        site.add(Video(name, Screen.LIVE, started_at=t0, hls_manifest_url=media.master_url(name)))
        site.at(
            t0 + timedelta(seconds=2), lambda s, n=name: setattr(media.videos[n], "status", 403)
        )
    budget = ResolveBudget(per_host=3, window_s=3600, clock=clock.monotonic)
    shared = Held(Resolver(ydl_class=site.ydl_class(), budget=budget), clock)
    statuses: list[str] = []

    async def both() -> None:
        until = t0 + timedelta(seconds=40)
        await asyncio.gather(
            *(
                record(
                    f"https://www.youtube.com/watch?v={name}",
                    tmp_path / name,
                    resolver=shared,
                    until=until,
                    stall_timeout_s=600,
                    clock=clock,
                    on_progress=lambda p: statuses.append(p.status),
                )
                for name in ("blocked0001", "blocked0002")
            )
        )

    asyncio.run(both())
    # two first resolves, then at most the host's budget of re-resolves between them
    assert len(shared.calls) <= 2 + 3, len(shared.calls)
    assert any("budget" in s for s in statuses)
