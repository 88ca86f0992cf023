"""Issue 14, watch side: yt-dlp's real YoutubeIE/YoutubeTabIE against the loopback YouTube.

Only yt-dlp's network fetch goes to 127.0.0.1 (``Resolver(ydl_class=site.ydl_class())``);
the parsing is yt-dlp's own. Time is a FakeClock shared by the site, the media and the
watcher, so minutes of a scenario run in the time the resolves take.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamer.capture.clock import FakeClock
from streamer.capture.watcher import WatchResult, WatchStatus, next_delay, watch
from streamer.errors import BroadcastUnavailable, ResolveError, SiteRefused
from streamer.simulate import ReplayServer
from streamer.simulate.youtube_site import HANDLE, Screen, Video, YouTubeSite
from streamer.youtube import Resolver, ytdlp_environment
from tests.capture.loopback import Media

LIVE_URL = f"https://www.youtube.com/{HANDLE}/live"


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


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
def resolver(site: YouTubeSite) -> Resolver:
    return Resolver(ydl_class=site.ydl_class())


def live_video(media: Media, video_id: str, started: datetime, **kw: Any) -> Video:
    media.add(video_id, started)
    return Video(
        video_id, Screen.LIVE, started_at=started, hls_manifest_url=media.master_url(video_id), **kw
    )


def run_watch(
    clock: FakeClock, resolver: Resolver, url: str, **kw: Any
) -> tuple[WatchResult, list[WatchStatus], list[datetime]]:
    seen: list[WatchStatus] = []
    polls: list[datetime] = []

    class Counting:
        def resolve(self, target: str) -> Any:
            polls.append(clock.now())
            return resolver.resolve(target)

    result = asyncio.run(
        watch(Counting(), url, clock=clock.now, sleep=clock.sleep, on_status=seen.append, **kw)
    )
    return result, seen, polls


# ---- the loopback YouTube is read by yt-dlp's real extractors -----------------------------


def test_real_extractors_read_upcoming_live_and_ended(
    clock: FakeClock, site: YouTubeSite, media: Media, resolver: Resolver
) -> None:
    start = clock.now() + timedelta(hours=1)
    site.add(Video("upcoming001", Screen.UPCOMING, scheduled_start=start), on_live=True)
    info = resolver.resolve(LIVE_URL)  # YoutubeTabIE follows /live to the watch page
    assert info.is_upcoming and info.video_id == "upcoming001" and not info.is_generic
    assert info.release_time == start
    site.add(live_video(media, "livevideo01", clock.now()))
    live = resolver.resolve(watch_url("livevideo01"))
    assert live.is_live and live.format_id == "95" and live.manifest_url is not None
    assert "/itag/95/" in live.manifest_url
    site.videos["livevideo01"].screen = Screen.WAS_LIVE
    assert resolver.resolve(watch_url("livevideo01")).has_ended
    assert site.requests["player"] >= 3 and site.requests["live"] == 1


# ---- defect 3: "not live yet" is normal, polled at a steady cadence --------------------------


def test_nothing_live_yet_is_polled_steadily_and_found_within_seconds(
    clock: FakeClock, site: YouTubeSite, media: Media, resolver: Resolver
) -> None:
    start = clock.now() + timedelta(seconds=10)
    went_live = start + timedelta(seconds=7)
    site.at(went_live, lambda s: s.add(live_video(media, "thestream01", went_live), on_live=True))
    result, seen, polls = run_watch(
        clock, resolver, LIVE_URL, start=start, not_after=start + timedelta(hours=1)
    )
    assert result.state == "live", result.reason
    assert result.info is not None and result.info.video_id == "thestream01"
    # "The channel is not currently live" is no failure: no backoff, seconds apart near start
    assert all(s.kind == "not_live_yet" for s in seen), [s.error for s in seen]
    assert max(b - a for a, b in itertools.pairwise(polls)) <= timedelta(seconds=6)
    assert polls[-1] - went_live <= timedelta(seconds=6)


def test_cadence_is_steady_before_the_window_and_backs_off_only_on_errors() -> None:
    at = datetime(2026, 11, 26, 9, 0).astimezone()
    far = at + timedelta(hours=3)
    assert 0.85 * 30 <= next_delay(None, 0, 30, 300, at, start=far) <= 1.15 * 30
    near = at + timedelta(seconds=90)
    assert next_delay(None, 0, 30, 300, at, start=near) <= 1.15 * 5
    late = at - timedelta(minutes=5)  # inside the window, after the start
    assert next_delay(None, 0, 30, 300, at, start=late) <= 1.15 * 5
    assert next_delay(None, 3, 30, 300, at, start=near) >= 0.85 * 240  # real errors back off


# ---- defect 2: /live showing an earlier, ended video is not this broadcast's end --------------


def test_live_url_on_yesterdays_video_keeps_watching(
    clock: FakeClock, site: YouTubeSite, media: Media, resolver: Resolver
) -> None:
    start = clock.now() + timedelta(seconds=10)
    yesterday = Video(
        "yesterday01",
        Screen.WAS_LIVE,
        started_at=start - timedelta(days=1),
        ended_at=start - timedelta(hours=20),
    )
    site.add(yesterday, on_live=True)
    went_live = start + timedelta(seconds=7)
    site.at(went_live, lambda s: s.add(live_video(media, "todays00001", went_live), on_live=True))
    result, _, _ = run_watch(
        clock,
        resolver,
        LIVE_URL,
        start=start,
        window_start=start - timedelta(minutes=15),
        not_after=start + timedelta(hours=1),
    )
    assert result.state == "live", result.reason
    assert result.info is not None and result.info.video_id == "todays00001"


def test_live_url_on_the_video_we_recorded_is_the_end(
    clock: FakeClock, site: YouTubeSite, resolver: Resolver
) -> None:
    start = clock.now()
    site.add(Video("recorded001", Screen.WAS_LIVE, started_at=start, ended_at=start), on_live=True)
    result, _, _ = run_watch(
        clock,
        resolver,
        LIVE_URL,
        start=start,
        recorded=frozenset({"recorded001"}),
        not_after=start + timedelta(hours=1),
    )
    assert result.state == "ended"


# ---- risks: not_live, private until the start --------------------------------------------------


def test_not_live_is_a_failure_not_an_end(
    clock: FakeClock, site: YouTubeSite, resolver: Resolver
) -> None:
    site.add(Video("anupload001", Screen.NOT_LIVE))
    result, _, _ = run_watch(
        clock, resolver, watch_url("anupload001"), not_after=clock.now() + timedelta(hours=1)
    )
    assert result.state == "failed"
    assert "not a live stream" in result.reason


def test_private_until_the_start_is_checked_again(
    clock: FakeClock, site: YouTubeSite, media: Media, resolver: Resolver
) -> None:
    start = clock.now() + timedelta(seconds=20)
    site.add(Video("private0001", Screen.PRIVATE))

    def opens(s: YouTubeSite) -> None:
        media.add("private0001", start)
        s.videos["private0001"] = live_video(media, "private0001", start)

    site.at(start, opens)
    result, seen, _ = run_watch(
        clock,
        resolver,
        watch_url("private0001"),
        start=start,
        unavailable_until=start + timedelta(minutes=60),
        not_after=start + timedelta(minutes=60),
    )
    assert result.state == "live", result.reason
    assert any("rivate" in (s.error or "") for s in seen)


def test_private_after_the_late_limit_fails(
    clock: FakeClock, site: YouTubeSite, resolver: Resolver
) -> None:
    site.add(Video("private0002", Screen.PRIVATE))
    with pytest.raises(BroadcastUnavailable, match="rivate"):
        run_watch(
            clock,
            resolver,
            watch_url("private0002"),
            unavailable_until=clock.now() + timedelta(seconds=30),
            not_after=clock.now() + timedelta(hours=1),
        )


# ---- defect 8: the real reason, with a hint ------------------------------------------------------


@pytest.mark.parametrize(
    ("screen", "kind", "words"),
    [
        (Screen.BOT_CHECK, "bot_check", "not a bot"),
        (Screen.RATE_LIMITED, "rate_limited", "rate-limited"),
    ],
)
def test_bot_check_and_rate_limit_are_named_with_a_hint(
    site: YouTubeSite, resolver: Resolver, screen: Screen, kind: str, words: str
) -> None:
    site.add(Video("refused0001", screen))
    with pytest.raises(SiteRefused) as caught:
        resolver.resolve(watch_url("refused0001"))
    assert caught.value.kind == kind
    assert words in str(caught.value)
    assert "Requested format is not available" not in str(caught.value)
    assert caught.value.hint and ("cookies" in caught.value.hint)


def test_http_429_from_the_site_is_a_rate_limit(site: YouTubeSite, resolver: Resolver) -> None:
    site.add(Video("blocked0001", Screen.LIVE))
    site.http_status = 429
    with pytest.raises(ResolveError) as caught:
        resolver.resolve(watch_url("blocked0001"))
    assert caught.value.kind == "rate_limited"


def test_watch_reports_the_refusal_kind_in_its_status_and_backs_off(
    clock: FakeClock, site: YouTubeSite, resolver: Resolver
) -> None:
    site.add(Video("refused0002", Screen.BOT_CHECK))
    result, seen, polls = run_watch(
        clock,
        resolver,
        watch_url("refused0002"),
        poll_s=30,
        not_after=clock.now() + timedelta(minutes=5),
    )
    assert result.state == "missed"
    assert seen and all(s.kind == "bot_check" and s.hint for s in seen)
    assert polls[2] - polls[1] > polls[1] - polls[0]  # a real error backs off


def test_live_without_muxed_hls_is_a_clear_alert(
    clock: FakeClock, site: YouTubeSite, resolver: Resolver
) -> None:
    site.add(Video("nohls000001", Screen.LIVE, started_at=clock.now()))  # adaptive only
    with pytest.raises(ResolveError) as caught:
        resolver.resolve(watch_url("nohls000001"))
    assert caught.value.kind == "no_live_hls" and caught.value.hint


def test_environment_names_ytdlp_version_and_js_runtime() -> None:
    env = ytdlp_environment(("node",))
    assert env["version"] and env["age_days"] is not None
    assert "js_runtime" in env
