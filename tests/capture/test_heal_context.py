"""The heals of one recording share one context: yt-dlp's info dict is extracted once and
reused while live, again only on 403 (expired URLs) or when a heal must be fresh (after the
end); a span the DVR answered 404 for is not asked for again until then."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from streamer.capture.backfill import HealContext
from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.pipeline.processing import covers
from streamer.simulate.youtube_media import Content
from streamer.timeutil import parse_iso
from tests.capture.healkit import hole_fragments
from tests.capture.yt_support import record_segments, record_with_outage, youtube

SETTINGS = Settings(allow_private_sources=True)  # the simulator is on 127.0.0.1


def _gap_rows(directory: Path) -> int:
    text = (directory / "timeline.jsonl").read_text()
    return text.count('"t": "gap"') + text.count('"t":"gap"')


def test_live_heals_reuse_the_info_dict_and_skip_spans_the_dvr_lost(
    yt_content: Content, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content) as (media, clock, resolver):
        record_with_outage(clock, resolver, out, 60)
        first, _last = hole_fragments(media.started_at, out)
        media.forget(first + 3, first + 6)
        context = HealContext(resolver, settings=SETTINGS)

        async def main() -> None:
            try:
                calls = resolver.calls
                one = await context.heal(out, None, from_start=False, fresh=False)
                assert one.status == "is_live" and len(one.remaining) == 1
                assert "not held any more" in one.remaining[0][2]
                extracted, asked, rows = resolver.calls, media.requests["fragment"], _gap_rows(out)
                assert extracted > calls
                two = await context.heal(out, None, from_start=False, fresh=False)
                assert resolver.calls == extracted  # no yt-dlp run for a live heal
                assert media.requests["fragment"] == asked  # the lost span is not asked again
                assert _gap_rows(out) == rows  # nor noted again
                assert two.remaining == one.remaining
                three = await context.heal(out, None, from_start=False, fresh=True)
                assert resolver.calls == extracted + 1  # fresh: the source is asked again
                assert media.requests["fragment"] > asked
                assert [(s, e) for s, e, _ in three.remaining] == [
                    (s, e) for s, e, _ in one.remaining
                ]
            finally:
                await context.close()

        asyncio.run(main())


def test_expired_urls_answer_403_and_are_extracted_again(
    yt_content: Content, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content, url_ttl_s=60) as (_media, clock, resolver):
        record_with_outage(clock, resolver, out, 45)
        context = HealContext(resolver, settings=SETTINGS)

        async def heal() -> tuple[int, bool]:
            calls = resolver.calls
            report = await context.heal(out, None, from_start=False, fresh=False)
            return resolver.calls - calls, report.complete

        async def main() -> None:  # one event loop: the context keeps its connections
            try:
                assert await heal() == (2, True)  # the rendition's height, then the formats
                clock.advance(80)  # the URLs the context holds have expired: 403
                # a second outage, recorded meanwhile
                await asyncio.to_thread(record_segments, resolver, out, 16)
                assert len(Timeline.load(out).gaps()) == 1
                assert await heal() == (1, True)  # one re-extract, then it healed
            finally:
                await context.close()

        asyncio.run(main())
    assert Timeline.load(out).gaps() == []


def test_a_hole_whose_heal_failed_is_not_seen_until_a_pass_settles_it(
    yt_content: Content, tmp_path: Path
) -> None:
    """A pass that failed on a hole (the source answered 503) has not settled it: the session
    waits for a later pass, instead of going out as a false incomplete VOD (crash harness)."""
    out = tmp_path / "rec"
    with youtube(yt_content) as (media, clock, resolver):
        record_with_outage(clock, resolver, out, 60)
        hole = Timeline.load(out).gaps()[0]
        context = HealContext(resolver, settings=SETTINGS)

        def seen() -> datetime | None:
            heal = Timeline.load(out).meta.get("heal")
            value = heal.get("seen_until") if isinstance(heal, dict) else None
            return parse_iso(value) if isinstance(value, str) else None

        async def main() -> None:
            try:
                # the formats are known; then the source fails every request for a while
                assert (await context.heal(out, None, from_start=False, fresh=False)) is not None
            finally:
                await context.close()

        # first: a pass during the source's outage
        media.outage_until = media.clock() + 3600
        failing = HealContext(resolver, settings=SETTINGS)

        async def during() -> None:
            try:
                await failing.heal(out, None, from_start=False, fresh=False)
            finally:
                await failing.close()

        asyncio.run(during())
        assert seen() is None or seen() <= hole.start  # type: ignore[operator]
        assert not covers(out, hole.end)
        # the source is back: the next pass fills the hole and has seen past it
        media.outage_until = 0.0
        asyncio.run(main())
        assert Timeline.load(out).gaps() == []
        after = seen()
        assert after is not None and after >= hole.end
        assert covers(out, hole.end)
