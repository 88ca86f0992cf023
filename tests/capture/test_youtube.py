"""The resolver and the watcher: YouTube branches from info dicts shaped like yt-dlp's
YouTube extractor output, and the generic extractor on a real loopback stream."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamer.capture.watcher import WatchStatus, next_delay, watch
from streamer.errors import BroadcastUnavailable, ResolveError
from streamer.simulate import SimulatedBroadcast
from streamer.timeutil import now
from streamer.youtube import BroadcastInfo, Resolver, info_from_ytdlp, translate_error
from tests.capture.conftest import SMALL

VIDEO = "jfKfPfyJRdk"
WATCH_URL = f"https://www.youtube.com/watch?v={VIDEO}"
EXPIRE = 1795680000


def hls_format(itag: str, width: int, height: int, fps: float, tbr: float) -> dict[str, Any]:
    """One live HLS format as yt-dlp's YouTube extractor lists it (itag 91-96, 300, 301)."""
    base = (
        f"https://manifest.googlevideo.com/api/manifest/hls_playlist/expire/{EXPIRE}/ei/AbCd"
        f"/ip/203.0.113.7/id/{VIDEO}.2/itag/{itag}/source/yt_live_broadcast/requiressl/yes"
        "/ratebypass/yes/live/1/sgoap/gir%3Dyes%3Bitag%3D140/playlist_type/DVR/sparams/expire"
        "/file/index.m3u8"
    )
    return {
        "format_id": itag,
        "format_index": None,
        "url": base,
        "manifest_url": (
            f"https://manifest.googlevideo.com/api/manifest/hls_variant/expire/{EXPIRE}"
            f"/ei/AbCd/id/{VIDEO}.2/source/yt_live_broadcast/file/index.m3u8"
        ),
        "tbr": tbr,
        "ext": "mp4",
        "fps": fps,
        "protocol": "m3u8_native",
        "preference": None,
        "quality": None,
        "has_drm": False,
        "width": width,
        "height": height,
        "vcodec": "avc1.4d401f" if height <= 720 else "avc1.640028",
        "acodec": "mp4a.40.2",
        "dynamic_range": "SDR",
        "source_preference": -1,
    }


LIVE_FORMATS = [
    {  # storyboards come first in yt-dlp's list
        "format_id": "sb0",
        "format_note": "storyboard",
        "ext": "mhtml",
        "protocol": "mhtml",
        "acodec": "none",
        "vcodec": "none",
        "url": "https://i.ytimg.com/sb/x/storyboard3_L0/default.jpg",
        "width": 48,
        "height": 27,
        "fps": 0.5,
    },
    hls_format("91", 256, 144, 15.0, 290.0),
    hls_format("92", 426, 240, 30.0, 546.0),
    hls_format("93", 640, 360, 30.0, 1209.0),
    hls_format("94", 854, 480, 30.0, 1568.0),
    hls_format("95", 1280, 720, 30.0, 2969.0),
    hls_format("300", 1280, 720, 60.0, 4364.0),
    hls_format("96", 1920, 1080, 30.0, 5420.0),
    hls_format("301", 1920, 1080, 60.0, 6586.0),
    {  # an incomplete live adaptive format: https, video only
        "format_id": "137",
        "format_note": "1080p (incomplete)",
        "protocol": "https",
        "url": "https://rr1---sn.googlevideo.com/videoplayback?expire=1795680000&itag=137",
        "vcodec": "avc1.640028",
        "acodec": "none",
        "height": 1080,
    },
]


def youtube_info(**overrides: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "id": VIDEO,
        "title": "Sejong Smart City Forum 2026 — Day 1",
        "channel": "Sejong City",
        "channel_id": "UCabcdefghijklmnopqrstuv",
        "availability": "public",
        "live_status": "is_live",
        "is_live": True,
        "was_live": False,
        "media_type": "livestream",
        "release_timestamp": 1795651200,
        "release_date": "20261126",
        "timestamp": 1795650000,
        "webpage_url": WATCH_URL,
        "original_url": WATCH_URL,
        "extractor": "youtube",
        "extractor_key": "Youtube",
        "formats": LIVE_FORMATS,
        "_type": "video",
    }
    info.update(overrides)
    return info


def upcoming(starts_in_s: float) -> dict[str, Any]:
    return youtube_info(
        live_status="is_upcoming",
        is_live=False,
        release_timestamp=int(time.time() + starts_in_s),
        formats=[],
        _streamer_warnings=["This live event will begin in a few moments."],
    )


# ---- info_from_ytdlp ----------------------------------------------------------------------


def test_live_youtube_picks_best_muxed_hls_up_to_max_height() -> None:
    info = info_from_ytdlp(youtube_info(), max_height=720)
    assert info.is_live and not info.is_generic
    assert info.format_id == "300"  # 720p60 beats 720p30 by bitrate
    assert info.height == 720
    assert info.manifest_url is not None and "/itag/300/" in info.manifest_url
    assert info.expires_at == datetime.fromtimestamp(EXPIRE, UTC)
    assert info.release_time == datetime.fromtimestamp(1795651200, UTC)
    assert info.video_id == VIDEO
    assert info_from_ytdlp(youtube_info(), max_height=1080).format_id == "301"
    assert info_from_ytdlp(youtube_info(), max_height=100).format_id == "91"  # smallest


def test_upcoming_has_release_time_and_no_manifest() -> None:
    info = info_from_ytdlp(upcoming(3600))
    assert info.is_upcoming and not info.is_live and not info.has_ended
    assert info.manifest_url is None
    assert info.release_time is not None and info.release_time > now()


def test_was_live_has_ended() -> None:
    dash_only = [f for f in LIVE_FORMATS if f["protocol"] == "https"]
    info = info_from_ytdlp(youtube_info(live_status="was_live", is_live=False, formats=dash_only))
    assert info.has_ended and not info.is_live
    assert info.live_status == "was_live"


@pytest.mark.parametrize(
    "overrides",
    [
        {"availability": "private", "live_status": None, "formats": []},
        {
            "availability": None,
            "live_status": None,
            "title": None,
            "formats": [],
            "_streamer_warnings": [
                "Private video. Sign in if you've been granted access to this video"
            ],
        },
    ],
)
def test_private_video_is_unavailable_naming_the_url(overrides: dict[str, Any]) -> None:
    with pytest.raises(BroadcastUnavailable) as caught:
        info_from_ytdlp(youtube_info(**overrides), url=WATCH_URL)
    assert WATCH_URL in str(caught.value)
    assert "rivate" in str(caught.value)


def test_live_without_hls_format_is_an_error() -> None:
    dash_only = [f for f in LIVE_FORMATS if f["protocol"] != "m3u8_native"]
    with pytest.raises(ResolveError, match="no muxed HLS"):
        info_from_ytdlp(youtube_info(formats=dash_only), url=WATCH_URL)


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        (
            f"ERROR: [youtube] {VIDEO}: Private video. Sign in if you've been granted access "
            "to this video. Use --cookies-from-browser or --cookies for the authentication.",
            BroadcastUnavailable,
        ),
        (
            f"ERROR: [youtube] {VIDEO}: Video unavailable. This video has been removed by the "
            "uploader",
            BroadcastUnavailable,
        ),
        ("ERROR: [youtube:tab] @SejongCity: The channel is not currently live", ResolveError),
        (
            "ERROR: [generic] live: Unable to download webpage: HTTP Error 404: Not Found",
            ResolveError,
        ),
    ],
)
def test_translate_error(message: str, cls: type[ResolveError]) -> None:
    url = "http://127.0.0.1:9/live.m3u8" if "[generic]" in message else WATCH_URL
    error = translate_error(url, message)
    assert isinstance(error, cls)
    assert (cls is BroadcastUnavailable) == isinstance(error, BroadcastUnavailable)
    assert str(error).startswith(url)
    assert "ERROR:" not in str(error)


# ---- the watcher --------------------------------------------------------------------------


class Scripted:
    """Resolves through info_from_ytdlp from a script of yt-dlp-shaped dicts."""

    def __init__(self, script: list[dict[str, Any] | Exception]) -> None:
        self.script = script
        self.calls = 0

    def resolve(self, url: str) -> BroadcastInfo:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return info_from_ytdlp(step, url=url)


def test_watch_waits_for_upcoming_then_returns_live() -> None:
    resolver = Scripted([upcoming(2), ResolveError("network down"), upcoming(1), youtube_info()])
    seen: list[WatchStatus] = []
    started = time.monotonic()
    result = asyncio.run(
        watch(
            resolver,
            WATCH_URL,
            not_after=now() + timedelta(seconds=30),
            poll_s=0.3,
            max_poll_s=1.0,
            on_status=seen.append,
        )
    )
    assert result.state == "live" and result.is_live
    assert result.info is not None and result.info.format_id == "301"
    assert resolver.calls == 4 and result.attempts == 4
    assert [s.info.live_status if s.info else None for s in seen] == [
        "is_upcoming",
        None,
        "is_upcoming",
    ]
    assert seen[1].error == "network down"
    assert seen[1].next_poll_s > 0.3  # backed off after the failure
    assert time.monotonic() - started >= 0.6


def test_watch_reports_ended_for_was_live_and_raises_for_private() -> None:
    ended = asyncio.run(
        watch(
            Scripted([youtube_info(live_status="was_live", formats=[], availability="public")]),
            WATCH_URL,
            not_after=now() + timedelta(seconds=30),
        )
    )
    assert ended.state == "ended" and "was_live" in ended.reason
    with pytest.raises(BroadcastUnavailable):
        asyncio.run(
            watch(
                Scripted([youtube_info(availability="private", live_status=None, formats=[])]),
                WATCH_URL,
                not_after=now() + timedelta(seconds=30),
            )
        )


def test_watch_gives_up_at_not_after() -> None:
    result = asyncio.run(
        watch(Scripted([upcoming(3600)]), WATCH_URL, not_after=now() + timedelta(seconds=1))
    )
    assert result.state == "missed"
    assert result.info is not None and result.info.is_upcoming


def test_next_delay_is_steady_while_upcoming_and_backs_off_on_failures() -> None:
    # issue 14: a far scheduled start no longer means long sleeps (the broadcaster may
    # start early); only real failures back off
    info = info_from_ytdlp(upcoming(3 * 3600))
    at = now()
    assert 0.85 * 30 <= next_delay(None, 0, 30, 300, at) <= 1.15 * 30
    assert next_delay(info, 0, 30, 300, at) <= 1.15 * 30
    assert next_delay(None, 3, 30, 600, at) >= 0.85 * 240  # backoff after failures


def test_watch_real_stream_goes_live_and_leftover_endlist_is_not_live(tmp_path: Path) -> None:
    """The generic extractor on loopback: 404 until the source starts; ENDLIST is not live."""
    sim = SimulatedBroadcast(tmp_path, **SMALL).serve()
    resolver = Resolver()
    calls: list[str] = []
    real_resolve = resolver.resolve

    def counting_resolve(url: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_resolve(url, *args, **kwargs)
        finally:
            calls.append(url)  # counted once the answer (404 before the start) is in

    resolver.resolve = counting_resolve  # type: ignore[method-assign]
    try:

        async def main() -> Any:
            task = asyncio.create_task(
                watch(resolver, sim.url, not_after=now() + timedelta(seconds=60), poll_s=1.0)
            )
            # start the source only once the watcher has seen it absent (not after a fixed sleep)
            while not calls and not task.done():
                await asyncio.sleep(0.05)
            assert not task.done()
            sim.start()
            return await asyncio.wait_for(task, timeout=40)

        result = asyncio.run(main())
        assert result.state == "live", result
        assert result.attempts >= 2
        assert result.info.manifest_url == sim.media_url
        sim.stop()
        info = resolver.resolve(sim.url)
        assert not info.is_live and info.has_ended
        ended = asyncio.run(watch(resolver, sim.url, not_after=now() + timedelta(seconds=10)))
        assert ended.state == "ended"
    finally:
        sim.close()
