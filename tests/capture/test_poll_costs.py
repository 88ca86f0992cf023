"""The poller's cheap paths: unchanged playlists are not parsed again, retries stay as they were.

In-process (httpx.MockTransport, a resolver that only echoes the URL): no network, ~5 s.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

import streamer.capture.hls as hls
import streamer.capture.poll_segments as poll_segments
import streamer.capture.poller as poller
import streamer.capture.refresh as refresh
from streamer.capture.playlist import MediaPlaylist, Variant
from streamer.capture.timeline import Timeline
from streamer.youtube import BroadcastInfo

URL = "http://hls.test/live.m3u8"
TS = b"\x47" + b"\x00" * 187


class Echo:
    """A plain HLS URL: unknown live status, the URL is its own manifest."""

    def resolve(self, url: str) -> BroadcastInfo:
        return BroadcastInfo(url=url, video_id=None, title=None, live_status=None, manifest_url=url)


def _playlist(first: int, count: int, *, end: bool = False) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:1", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for seq in range(first, first + count):
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T01:00:{seq:02d}.000Z", "#EXTINF:1.0,"]
        lines.append(f"seg{seq}.ts")
    if end:
        lines.append("#EXT-X-ENDLIST")
    return ("\n".join(lines) + "\n").encode()


def _record(handler: httpx.MockTransport, out: Path) -> hls.RecordResult:
    async def main() -> hls.RecordResult:
        async with httpx.AsyncClient(transport=handler) as client:
            return await hls.record(
                URL, out, resolver=Echo(), client=client, stall_timeout_s=20, duration_s=30
            )

    return asyncio.run(main())


def test_unchanged_playlist_bytes_are_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Polls 1-4 see the same bytes, 5-7 one more segment, then the stream ends.
    bodies = [_playlist(10, 2)] * 4 + [_playlist(10, 3)] * 3 + [_playlist(10, 3, end=True)]
    gets: Counter[str] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        gets[path] += 1
        if path == "/live.m3u8":
            return httpx.Response(200, content=bodies[min(gets[path], len(bodies)) - 1])
        return httpx.Response(200, content=TS * 10)

    parsed: list[bytes] = []
    real_parse = poller.parse

    def counting_parse(text: str, url: str) -> MediaPlaylist | list[Variant]:
        parsed.append(text.encode())
        return real_parse(text, url)

    monkeypatch.setattr(poller, "parse", counting_parse)  # the poll loop's module
    monkeypatch.setattr(refresh, "parse", counting_parse)  # the resolve's master/media fetch
    result = _record(httpx.MockTransport(handler), tmp_path / "rec")

    assert result.state == "ended", result.reason
    assert gets["/live.m3u8"] == len(bodies)
    # Parsed on resolving, then once per distinct body: never for bytes seen the poll before.
    assert parsed[1:] == [bodies[0], bodies[4], bodies[7]]
    timeline = Timeline.load(tmp_path / "rec")
    assert [s.seq for s in timeline.segments] == [11, 12]  # live edge, then the new one
    assert timeline.gaps() == []


def test_a_segment_failing_with_5xx_is_tried_4_times_then_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = [_playlist(10, 1)] * 2 + [_playlist(10, 3)] * 2 + [_playlist(10, 3, end=True)]
    gets: Counter[str] = Counter()
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def fast_sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        gets[path] += 1
        if path == "/live.m3u8":
            return httpx.Response(200, content=bodies[min(gets[path], len(bodies)) - 1])
        if path == "/seg11.ts":
            return httpx.Response(503)
        if path == "/seg12.ts" and gets[path] == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, content=TS * 10)

    monkeypatch.setattr(hls.asyncio, "sleep", fast_sleep)
    result = _record(httpx.MockTransport(handler), tmp_path / "rec")

    assert result.state == "ended", result.reason
    # 4 attempts, then a gap; tried again (4 attempts each) on later polls while listed,
    # up to MAX_REFILL_ATTEMPTS polls in all
    assert gets["/seg11.ts"] == 4 * poll_segments.MAX_REFILL_ATTEMPTS
    assert gets["/seg12.ts"] == 2  # a refused connection is retried too
    # Backoff with jitter: 0.25, 0.5, 1 s (+ up to 0.25 s) for seg11, 0.25 s (+) for seg12.
    for wait, base in zip(waits[:4], [0.25, 0.5, 1.0, 0.25], strict=True):
        assert base <= wait <= base + 0.25
    timeline = Timeline.load(tmp_path / "rec")
    assert [s.seq for s in timeline.segments] == [10, 12]
    assert [g.reason for g in timeline.explicit_gaps] == ["segment 11 missed"]


def test_a_segment_lost_to_a_passing_error_is_fetched_again_while_listed(tmp_path: Path) -> None:
    bodies = [_playlist(10, 1)] * 2 + [_playlist(10, 3)] * 2 + [_playlist(10, 3, end=True)]
    gets: Counter[str] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        gets[path] += 1
        if path == "/live.m3u8":
            return httpx.Response(200, content=bodies[min(gets[path], len(bodies)) - 1])
        if path == "/seg11.ts" and gets[path] <= 4:  # down for one poll's four attempts
            return httpx.Response(503)
        return httpx.Response(200, content=TS * 10)

    result = _record(httpx.MockTransport(handler), tmp_path / "rec")
    assert result.state == "ended", result.reason
    timeline = Timeline.load(tmp_path / "rec")
    assert [s.seq for s in timeline.segments] == [10, 11, 12]
    assert timeline.gaps() == []  # the gap row written at the time is covered now


def test_a_lagging_playlist_is_not_taken_for_a_sequence_reset(tmp_path: Path) -> None:
    # a CDN edge one update behind serves 9-11 after we kept 12: ignore it, no new part
    first = [_playlist(10, 3)] * 2  # resolving, then the first poll (keeps 12, the live edge)
    bodies = [*first, _playlist(9, 3), _playlist(10, 4), _playlist(10, 4, end=True)]
    gets: Counter[str] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        gets[path] += 1
        if path == "/live.m3u8":
            return httpx.Response(200, content=bodies[min(gets[path], len(bodies)) - 1])
        return httpx.Response(200, content=TS * 10)

    result = _record(httpx.MockTransport(handler), tmp_path / "rec")
    assert result.state == "ended", result.reason
    timeline = Timeline.load(tmp_path / "rec")
    assert [(s.part, s.seq) for s in timeline.segments] == [(1, 12), (1, 13)]
    assert timeline.gaps() == [] and len(timeline.parts()) == 1
