"""HLS playlists as the poller needs them: parsed with ``m3u8``, checked, reduced to facts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import m3u8
from m3u8 import parser as m3u8_parser

from streamer.errors import CaptureError


@dataclass(frozen=True)
class Entry:
    """One segment of a media playlist."""

    seq: int
    url: str
    duration: float
    pdt: datetime | None
    discontinuity: bool


@dataclass(frozen=True)
class MediaPlaylist:
    url: str
    media_sequence: int
    target_duration: float
    entries: list[Entry]
    endlist: bool
    digest: str  # changes whenever the playlist does

    @property
    def last_seq(self) -> int | None:
        return self.entries[-1].seq if self.entries else None


@dataclass(frozen=True)
class Variant:
    url: str
    bandwidth: int
    height: int | None
    codecs: str | None

    @property
    def key(self) -> str:
        return f"{self.height or '?'}p@{self.bandwidth}"


def _check_text(text: str, url: str) -> str:
    body = text.lstrip("\ufeff \t\r\n")
    if body.startswith("#EXTM3U"):
        return body
    head = body[:200].lower()
    if "<html" in head or "<!doctype" in head:
        raise CaptureError(f"{url}: got an HTML page where an HLS playlist should be")
    if not body:
        raise CaptureError(f"{url}: empty response where an HLS playlist should be")
    raise CaptureError(f"{url}: not an HLS playlist (no #EXTM3U header)")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse(text: str, url: str) -> MediaPlaylist | list[Variant]:
    """Parse a playlist: a media playlist, or the variants of a master playlist."""
    body = _check_text(text, url)
    try:
        # the parser's dict, without m3u8's object model: half the cost of ``m3u8.loads``
        # on every poll of a live playlist (docs/benchmarks/capture.md)
        data = m3u8_parser.parse(body)
    except Exception as exc:  # m3u8 raises plain exceptions on malformed tags
        raise CaptureError(f"{url}: malformed HLS playlist: {exc}") from exc
    if data.get("is_variant"):
        return _variants(body, url)
    if any(key and key.get("method") not in (None, "NONE") for key in data.get("keys", [])):
        raise CaptureError(f"{url}: encrypted HLS (EXT-X-KEY) is not supported")
    if data.get("segment_map"):
        raise CaptureError(f"{url}: fragmented-MP4 HLS (EXT-X-MAP) is not supported")
    first = int(data.get("media_sequence") or 0)
    base = urljoin(url, ".")  # as m3u8 joins a segment's URI (its ``absolute_uri``)
    entries = [
        Entry(
            seq=first + i,
            url=urljoin(base, seg.get("uri") or ""),
            duration=float(seg.get("duration") or 0.0),
            pdt=_aware(seg.get("current_program_date_time")),
            discontinuity=bool(seg.get("discontinuity")),
        )
        for i, seg in enumerate(data.get("segments", []))
    ]
    target = float(data.get("targetduration") or 0) or max(
        (e.duration for e in entries), default=2.0
    )
    return MediaPlaylist(
        url=url,
        media_sequence=first,
        target_duration=max(0.5, target),
        entries=entries,
        endlist=bool(data.get("is_endlist")),
        digest=hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest(),
    )


def _variants(body: str, url: str) -> list[Variant]:
    try:
        doc = m3u8.loads(body, uri=url)
    except Exception as exc:
        raise CaptureError(f"{url}: malformed HLS playlist: {exc}") from exc
    variants = []
    for p in doc.playlists:
        info = p.stream_info
        height = info.resolution[1] if info and info.resolution else None
        variants.append(
            Variant(
                url=p.absolute_uri,
                bandwidth=int(info.bandwidth or 0) if info else 0,
                height=height,
                codecs=info.codecs if info else None,
            )
        )
    if not variants:
        raise CaptureError(f"{url}: master playlist lists no variants")
    return variants


def choose_variant(variants: list[Variant], max_height: int) -> Variant:
    """The tallest variant up to ``max_height`` (by bandwidth among equals), else the smallest."""

    def key(v: Variant) -> tuple[int, int]:
        return (v.height or 0, v.bandwidth)

    fitting = [v for v in variants if (v.height or 0) <= max_height]
    return max(fitting, key=key) if fitting else min(variants, key=key)


def looks_like_ts(data: bytes) -> bool:
    """MPEG-TS packets start with 0x47 every 188 bytes."""
    if len(data) < 188 or data[0] != 0x47:
        return False
    checks = range(188, min(len(data), 188 * 8), 188)
    return all(data[i] == 0x47 for i in checks)
