"""The DVR's fragments as a heal reads them: fetched, parsed (a fragment without its init
segment takes the last one seen), held until muxed, and placed in wall-clock time by their
own timing (``Ingestion-Walltime-Us``, else ``tfdt`` from a known zero)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streamer.capture import fmp4
from streamer.capture.fragments import FragmentFetcher, FragmentGone
from streamer.capture.holes import TOL_S
from streamer.errors import CaptureError

LOCATE_STEPS = 8


@dataclass
class Frag:
    sq: int
    wall: datetime
    video: fmp4.Fragment
    audio: fmp4.Fragment


def wall_time(frag: fmp4.Fragment, zero: float | None) -> datetime:
    """When ``frag``'s first frame was shown; ``zero`` is the wall-clock of media time 0."""
    if frag.wall_us is not None:
        return datetime.fromtimestamp(frag.wall_us / 1e6, UTC)
    if zero is None:
        raise CaptureError(f"fragment {frag.sq}: no Ingestion-Walltime-Us and no time anchor")
    return datetime.fromtimestamp(zero + frag.media_start, UTC)


class DvrFragments:
    """One heal's reader of the DVR; it learns ``zero`` from the fragments it parses."""

    def __init__(self, fetcher: FragmentFetcher) -> None:
        self.fetcher = fetcher
        self.zero: float | None = None  # wall-clock (epoch s) of media time 0
        self.inits: dict[str, bytes] = {}  # the last init segment of each kind ("v", "a")
        self._cache: dict[int, bytes] = {}

    async def video(self, sq: int) -> fmp4.Fragment:
        data = self._cache.get(sq)
        if data is None:
            data = await self.fetcher.fetch("v", sq)
            self._cache[sq] = data
        frag = self.parse("v", sq, data)
        if frag.wall_us is not None:
            self.zero = frag.wall_us / 1e6 - frag.media_start
        return frag

    def parse(self, kind: str, sq: int, data: bytes) -> fmp4.Fragment:
        try:
            frag = fmp4.parse(data, self.inits.get(kind))
        except CaptureError as exc:
            raise CaptureError(
                f"{'video' if kind == 'v' else 'audio'} fragment {sq}: not a media fragment ({exc})"
            ) from exc
        if frag.init:
            self.inits[kind] = frag.init
        return frag

    async def video_wall(self, sq: int) -> datetime:
        """When video fragment ``sq`` begins (fetched, or from the cache)."""
        return wall_time(await self.video(sq), self.zero)

    async def locate(
        self, at: datetime, head: int, step_s: float, broadcast_start: datetime | None
    ) -> int:
        """The fragment whose span holds ``at`` (by the fragments' own times)."""
        try:
            head_wall = await self.video_wall(head)
        except FragmentGone:
            if broadcast_start is None:
                raise
            # the head is not held (a DVR that dropped it): place it by its number
            head_wall = broadcast_start + timedelta(seconds=head * step_s)
        sq = max(0, head - round((head_wall - at).total_seconds() / step_s))
        for _ in range(LOCATE_STEPS):
            try:
                wall = await self.video_wall(sq)
            except FragmentGone:
                return sq  # not held: the walk below reports it with its reason
            off = (at - wall).total_seconds()
            if off < -TOL_S and sq > 0:
                sq = max(0, sq - max(1, round(-off / step_s)))
            elif off >= step_s - TOL_S and sq < head:
                sq = min(head, sq + max(1, round(off / step_s)))
            else:
                return sq
        return sq

    async def fetch_pair(self, sq: int) -> Frag:
        video = await self.video(sq)
        audio = self.parse("a", sq, await self.fetcher.fetch("a", sq))
        self._cache.pop(sq, None)
        return Frag(sq, wall_time(video, self.zero), video, audio)

    def forget(self) -> None:
        """Drop the fragments fetched but not muxed (a hole is done)."""
        self._cache.clear()
