"""The heal driven by real yt-dlp: its YouTube extractor parses the loopback watch page
(``youtube_site``) whose player response lists the YouTube-shaped media server's adaptive
formats (``youtube_info.site_video``). With ``live_from_start`` yt-dlp itself keeps the
``is_from_start`` formats (``_prepare_live_from_start_formats``); the heal takes them from
that info dict and fetches ``url&sq=N`` from the simulated DVR.

Only yt-dlp's network fetch is redirected to 127.0.0.1, and every request still passes the
SSRF policy, which these tests opt into explicitly (``Policy(allow_private=True)``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamer.capture.backfill import heal_directory
from streamer.capture.fragments import with_sq
from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.errors import BlockedSource, ResolveError
from streamer.netguard import Policy
from streamer.simulate.youtube_info import site_video
from streamer.simulate.youtube_media import VIDEO_ITAG, Content, YouTubeMedia
from streamer.simulate.youtube_site import YouTubeSite
from streamer.youtube import Resolver, ResolverOptions
from tests.capture.yt_support import (
    SEGMENT_S,
    URL,
    ShiftClock,
    check_frames,
    joined,
    record_with_outage,
    youtube,
)

LOOPBACK_OK = Policy(allow_private=True)  # the opt-in: the site and the media are on 127.0.0.1
SETTINGS = Settings(allow_private_sources=True)


class Spy:
    """The real resolver, keeping every info dict yt-dlp returned."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.infos: list[tuple[bool, dict[str, Any]]] = []

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        info = self.resolver.extract(url, live_from_start=live_from_start)
        self.infos.append((live_from_start, info))
        return info

    def resolve(self, url: str) -> Any:
        return self.resolver.resolve(url)


@pytest.fixture
def broadcast(
    yt_content: Content,
) -> Iterator[tuple[YouTubeMedia, ShiftClock, YouTubeSite, Spy]]:
    with (
        youtube(yt_content) as (media, clock, _simulated),
        YouTubeSite(clock=lambda: datetime.fromtimestamp(clock(), UTC)) as site,
    ):
        site.add(site_video(media))
        resolver = Resolver(
            ResolverOptions(policy=LOOPBACK_OK), ydl_class=site.ydl_class(policy=LOOPBACK_OK)
        )
        yield media, clock, site, Spy(resolver)


def test_real_ytdlp_live_from_start_formats_heal_a_gap_from_the_dvr(
    broadcast: tuple[YouTubeMedia, ShiftClock, YouTubeSite, Spy], tmp_path: Path
) -> None:
    media, clock, site, spy = broadcast
    out = tmp_path / "rec"
    record_with_outage(clock, spy, out, 60)  # the live recorder resolves through yt-dlp too
    assert len(Timeline.load(out).gaps()) == 1
    fragments_before = media.requests["fragment"]

    report = asyncio.run(heal_directory(out, spy, settings=SETTINGS))

    assert report.complete and report.status == "is_live", report.remaining
    # the formats came from yt-dlp's own live_from_start processing, not from us
    from_start = [info for lfs, info in spy.infos if lfs]
    assert from_start and site.requests["player"] >= 1
    adaptive = {f["format_id"]: f for f in from_start[-1]["formats"]}
    assert set(adaptive) == {"140", "160"}  # yt-dlp dropped the HLS format itself
    assert all(
        f["is_from_start"] and f["protocol"] == "http_dash_segments_generator"
        for f in adaptive.values()
    )
    assert adaptive["160"]["target_duration"] == SEGMENT_S
    fetched = media.requests["fragment"] - fragments_before

    timeline = Timeline.load(out)
    assert timeline.gaps() == [] and len(timeline.runs()) == 1
    prov = timeline.provenance()
    assert prov["dvr"] >= 28  # the outage less the 30 s window the recorder found listed
    assert fetched >= 2 * round(prov["dvr"] / SEGMENT_S)  # video + audio, by sq
    assert timeline.start is not None and timeline.end is not None
    assert prov["live"] + prov["dvr"] == pytest.approx(
        (timeline.end - timeline.start).total_seconds(), abs=0.01
    )  # 100% covered
    video, start = joined(out, tmp_path / "vod.ts")
    dvr = [s for s in timeline.segments if s.src == "dvr"]
    tenth = timedelta(seconds=0.1)
    check_frames(
        video,
        start,
        media,
        [start, dvr[0].start - tenth, dvr[0].start, dvr[-1].end - tenth, dvr[-1].end,
         timeline.end - tenth],
    )  # fmt: skip


def test_post_live_fragment_urls_are_the_ones_ytdlp_builds(
    broadcast: tuple[YouTubeMedia, ShiftClock, YouTubeSite, Spy],
) -> None:
    media, clock, _site, spy = broadcast
    clock.advance(20)
    media.end()
    info = spy.extract(URL, live_from_start=True)
    assert info["live_status"] == "post_live"
    video = next(f for f in info["formats"] if f["format_id"] == str(VIDEO_ITAG))
    # yt-dlp's _live_adaptive_fragments: HEAD → X-Head-Seqnum, then base_url&sq=N
    urls = [frag["url"] for frag in video["fragments"]]
    assert urls[:3] == [with_sq(video["url"], n) for n in range(3)]
    assert len(urls) >= media.head_sq() - 1


def test_the_ssrf_policy_still_applies_on_the_loopback_path(
    broadcast: tuple[YouTubeMedia, ShiftClock, YouTubeSite, Spy],
) -> None:
    _media, _clock, site, _spy = broadcast
    strict = Resolver(ResolverOptions(policy=Policy()), ydl_class=site.ydl_class(policy=Policy()))
    with pytest.raises(ResolveError) as caught:
        strict.extract(URL, live_from_start=True)
    assert isinstance(caught.value, BlockedSource) or "127.0.0.1" in str(caught.value)
    assert site.requests["watch"] == 0  # refused before anything was sent


def test_after_the_end_real_ytdlp_archive_formats_fill_what_the_dvr_lost(
    broadcast: tuple[YouTubeMedia, ShiftClock, YouTubeSite, Spy], tmp_path: Path
) -> None:
    media, clock, _site, spy = broadcast
    out = tmp_path / "rec"
    record_with_outage(clock, spy, out, 50)
    hole = Timeline.load(out).gaps()[0]
    first = int((hole.start.timestamp() - media.started_at) / SEGMENT_S)
    media.forget(first, first + 30)  # the DVR lost the whole outage
    media.publish_archive()  # ended and processed: was_live, whole files

    report = asyncio.run(heal_directory(out, spy, settings=SETTINGS))

    assert report.status == "was_live" and report.complete, report.remaining
    formats = [f for lfs, info in spy.infos if lfs for f in info["formats"]]
    # yt-dlp's own parse: whole files (http: the archive is on loopback), no fragments
    assert formats and all(
        f["protocol"] == "http" and not f.get("is_from_start") for f in formats
    ), formats
    timeline = Timeline.load(out)
    assert timeline.gaps() == [] and len(timeline.runs()) == 1
    archived = [s for s in timeline.segments if s.src == "archive"]
    assert sum(s.duration for s in archived) >= 18
    video, start = joined(out, tmp_path / "vod.ts")
    tenth = timedelta(seconds=0.1)
    check_frames(
        video,
        start,
        media,
        [archived[0].start - tenth, archived[0].start, archived[-1].end - tenth,
         archived[-1].end],
    )  # fmt: skip
