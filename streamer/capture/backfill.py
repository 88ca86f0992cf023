"""Backfill as a stage of capture: record the live edge, heal the gaps beside it.

:func:`record_with_backfill` runs the HLS poller and, every ``heal_every_s``, a heal of the
recording's gaps from the DVR, in the same event loop (fetches are bounded and paced, muxing
runs in a thread), then one heal after the end from ``post_live`` fragments or the archive.
:func:`heal_directory` is that heal alone (``streamer heal DIR``). The heals of one recording
share a :class:`HealContext`, so yt-dlp runs once while live, not once per heal.

Only YouTube broadcasts can be healed (their DVR holds 120 hours); for a generic HLS source
the poller already takes everything its playlist still lists (EVENT playlists included), and
what it missed stays a gap with that reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from streamer.capture.fragments import FragmentFetcher, InfoSource
from streamer.capture.heal import Healer, HealReport, holes
from streamer.capture.hls import RecordResult, record
from streamer.capture.timeline import GAP_TOLERANCE_S, TIMELINE, Timeline, TimelineWriter
from streamer.config import Settings
from streamer.errors import StreamerError
from streamer.netguard import Policy
from streamer.timeutil import parse_iso
from streamer.youtube import BroadcastInfo, choose_format

log = logging.getLogger(__name__)

HEAL_EVERY_S = 10.0
LOST = "not held any more"  # a 404 reason: the DVR dropped it; only the archive has it
FIRST_HEAL_POLL_S = 1.0
GENERIC_REASON = "generic HLS source: no DVR to backfill from; the playlist no longer lists it"


class HealingResolver(InfoSource, Protocol):
    """A resolver that also gives yt-dlp's raw info dict (:class:`streamer.youtube.Resolver`)."""

    def resolve(self, url: str) -> BroadcastInfo: ...


@dataclass
class BackfillResult:
    record: RecordResult
    heals: list[HealReport] = field(default_factory=list)
    final: HealReport | None = None


def _is_youtube(info: dict[str, Any]) -> bool:
    return str(info.get("extractor_key") or info.get("extractor") or "").lower() == "youtube"


class _Source:
    """The info source, remembering the recorded HLS rendition's height."""

    def __init__(self, source: InfoSource, max_height: int) -> None:
        self.source = source
        self.max_height = max_height
        self.youtube: bool | None = None

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        info = self.source.extract(url, live_from_start=live_from_start)
        self.youtube = _is_youtube(info)
        return info

    def height(self, url: str) -> int | None:
        """The height of the HLS rendition the recorder chose (same rule as the resolver)."""
        info = self.extract(url)
        chosen = choose_format(
            [f for f in info.get("formats") or [] if isinstance(f, dict)], self.max_height
        )
        value = chosen.get("height") if chosen else None
        return int(value) if isinstance(value, int | float) else None


def _height(directory: Path) -> int | None:
    value = Timeline.load(directory).meta.get("height")
    return int(value) if isinstance(value, int) else None


class HealContext:
    """What the heals of one recording share: the source, the recorded rendition's height,
    and one fetcher (its HTTP connections and yt-dlp's last info dict). Heals while live
    reuse that info dict until its URLs expire or answer 403; a ``fresh`` heal (by hand,
    after the end) extracts it again."""

    def __init__(
        self,
        source: InfoSource,
        *,
        settings: Settings,
        client: httpx.AsyncClient | None = None,
        concurrency: int = 6,
        rate: float = 120.0,
    ) -> None:
        self.source = _Source(source, settings.max_height)
        self.policy = Policy.from_settings(settings)
        self.client = client
        self.concurrency = concurrency
        self.rate = rate
        self.fetcher: FragmentFetcher | None = None
        self.lost: list[tuple[datetime, datetime, str]] = []  # gone from the DVR (404)

    async def _fetcher(self, directory: Path, target: str) -> FragmentFetcher:
        if self.fetcher is None or self.fetcher.url != target:
            if self.fetcher is not None:
                await self.fetcher.close()
            height = _height(directory)
            if height is None:  # the HLS rendition's height: one extract, the first time
                height = await asyncio.to_thread(self.source.height, target)
            self.fetcher = FragmentFetcher(
                target,
                self.source,
                height=height,
                client=self.client,
                concurrency=self.concurrency,
                rate=self.rate,
                policy=self.policy,
            )
        return self.fetcher

    async def heal(
        self, directory: Path, url: str | None, *, from_start: bool, fresh: bool
    ) -> HealReport:
        timeline = Timeline.load(directory)
        target = url or timeline.meta.get("source_url")
        if not target:
            raise StreamerError(f"{directory}: no source URL recorded; give one")
        if _nothing_to_heal(timeline, from_start):
            return HealReport(skipped=True)  # no call to the site (yt-dlp costs seconds)
        if self._generic_source():
            return _generic(directory, timeline)
        fetcher = await self._fetcher(directory, str(target))
        if self._generic_source():  # learnt by the height's extract
            return _generic(directory, timeline)
        if fresh:
            fetcher.invalidate()
        await fetcher.current()  # the info dict says whether this is YouTube at all
        if not self.source.youtube:
            return _generic(directory, timeline)
        healer = Healer(
            directory, fetcher, from_start=from_start, fresh=fresh, known_lost=self.lost
        )
        report = await healer.heal_once()
        if report.status in ("is_live", "post_live") and not fresh:
            self.lost = [span for span in report.remaining if LOST in span[2]]
        if fetcher.height is not None and timeline.meta.get("height") != fetcher.height:
            meta = dict(Timeline.load(directory).meta, height=fetcher.height)
            with TimelineWriter(directory) as writer:
                writer.write_meta(meta)
        return report

    def _generic_source(self) -> bool:
        return self.source.youtube is False

    async def close(self) -> None:
        if self.fetcher is not None:
            await self.fetcher.close()
            self.fetcher = None


async def heal_directory(
    directory: Path,
    source: InfoSource,
    *,
    url: str | None = None,
    from_start: bool = False,
    settings: Settings | None = None,
    client: httpx.AsyncClient | None = None,
    concurrency: int = 6,
    rate: float = 120.0,
) -> HealReport:
    """Heal ``directory`` once from its broadcast (``url`` or its recorded source URL)."""
    context = HealContext(
        source, settings=settings or Settings(), client=client, concurrency=concurrency, rate=rate
    )
    try:
        return await context.heal(directory, url, from_start=from_start, fresh=True)
    finally:
        await context.close()


def _nothing_to_heal(timeline: Timeline, from_start: bool) -> bool:
    if holes(timeline):
        return False
    if not from_start:
        return True
    start = timeline.meta.get("broadcast_start")
    if not isinstance(start, str) or timeline.start is None:
        return False
    return (timeline.start - parse_iso(start)).total_seconds() <= GAP_TOLERANCE_S


def _generic(directory: Path, timeline: Timeline) -> HealReport:
    report = HealReport(status=None)
    found = holes(timeline)
    if found:
        with TimelineWriter(directory) as writer:
            for hole in found:
                writer.gap(hole.start, hole.end, GENERIC_REASON)
                report.remaining.append((hole.start, hole.end, GENERIC_REASON))
    return report


async def record_with_backfill(
    url: str,
    out_dir: Path,
    *,
    resolver: HealingResolver,
    settings: Settings | None = None,
    from_start: bool = False,
    heal_every_s: float = HEAL_EVERY_S,
    on_heal: Callable[[HealReport], None] | None = None,
    client: httpx.AsyncClient | None = None,
    **record_args: Any,
) -> BackfillResult:
    """:func:`record` with the heal running beside it, and once more after the end."""
    settings = settings or Settings()
    task = asyncio.create_task(
        record(url, out_dir, resolver=resolver, settings=settings, **record_args)
    )
    heals: list[HealReport] = []
    healable = True  # a generic HLS source has no DVR: one heal says so, then no more
    context = HealContext(resolver, settings=settings, client=client)

    async def heal(fresh: bool = False) -> HealReport | None:
        nonlocal healable
        if not (Path(out_dir) / TIMELINE).is_file() or not Timeline.load(out_dir).segments:
            return None
        try:
            report = await context.heal(out_dir, url, from_start=from_start, fresh=fresh)
        except StreamerError as exc:
            log.warning("%s: heal failed: %s", url, exc)
            return None
        except Exception:  # a heal bug must never end the live capture beside it
            log.exception("%s: heal crashed; healing stops for this recording", url)
            healable = False
            return None
        heals.append(report)
        healable = report.status is not None or report.skipped
        if on_heal is not None:
            on_heal(report)
        return report

    try:
        while not task.done():
            # the first heal as soon as there is a segment (a late start has the most to
            # fill), then every heal_every_s
            wait = heal_every_s if heals else min(FIRST_HEAL_POLL_S, heal_every_s)
            await asyncio.wait({task}, timeout=wait)
            if not task.done() and healable:
                await heal()
        result = task.result()
        final = await heal(fresh=True)  # the broadcast may have ended: ask the source again
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        await context.close()
    return BackfillResult(result, heals, final)


def missing_lines(report: HealReport) -> list[tuple[datetime, datetime, str]]:
    return list(report.remaining)
