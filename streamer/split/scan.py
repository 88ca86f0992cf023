"""Video packets around the cut points: keyframes before and after a time, frame counts."""

from __future__ import annotations

from pathlib import Path

from streamer.errors import SplitError
from streamer.split.parts import EPS_S
from streamer.split.probe import Packet, Probe, video_packets

SCAN_S = 12.0  # how far around a cut point to read packets; grows when no keyframe is found


def frames_between(packets: list[Packet], lo: float, hi: float) -> int:
    return sum(1 for p in packets if lo - EPS_S <= p.pts < hi - EPS_S)


def merge(*lists: list[Packet]) -> list[Packet]:
    seen: dict[float, Packet] = {}
    for items in lists:
        for p in items:
            seen.setdefault(round(p.pts, 4), p)
    return sorted(seen.values(), key=lambda p: p.pts)


class Scanner:
    """Reads video packets around cut points, widening the window when a keyframe is not in it."""

    def __init__(self, url: str, probe: Probe) -> None:
        self.url = url
        self.info = probe.info
        self.packets: list[Packet] = merge(probe.packets)
        self.spans: list[tuple[float, float]] = list(probe.spans)

    def read(self, lo: float, hi: float, *more: tuple[float, float]) -> None:
        wanted = [(x, y) for x, y in [(lo, hi), *more] if not self.covered(x, y)]
        if wanted:  # one ffprobe run for all of them (each run costs ~50 ms to start)
            self.packets = merge(self.packets, video_packets(self.url, wanted))
            self.spans.extend(wanted)

    def covered(self, lo: float, hi: float) -> bool:
        return any(a <= lo and hi <= b for a, b in self.spans)

    def around(self, lo: float, hi: float) -> list[Packet]:
        """Every packet known, after reading what ``lo``..``hi`` (plus a margin) needs."""
        self.read(lo - 0.5, hi + 0.5)
        return self.packets

    def last_end(self, b: float, frame_s: float) -> float:
        self.read(b - SCAN_S, b + SCAN_S)
        return max(p.pts for p in self.packets) + frame_s

    def key_at_or_before(self, t: float, floor: float) -> Packet | None:
        width = SCAN_S
        while True:
            self.read(t - width, t + 1.0)
            keys = [p for p in self.packets if p.key and p.pts <= t + EPS_S]
            if keys:
                return max(keys, key=lambda p: p.pts)
            if t - width <= floor:
                return None
            width *= 4

    def key_at_or_after(self, t: float, ceiling: float) -> Packet | None:
        width = SCAN_S
        while True:
            self.read(t - 1.0, t + width)
            keys = [p for p in self.packets if p.key and p.pts >= t - EPS_S]
            if keys:
                return min(keys, key=lambda p: p.pts)
            if t + width >= ceiling - EPS_S:
                return None
            width *= 4


def file_at(files: list[Path], pos: int) -> tuple[int, int]:
    """(index of the file holding byte ``pos`` of the joined stream, offset inside it)."""
    offset = pos
    for i, f in enumerate(files):
        size = f.stat().st_size
        if offset < size:
            return i, offset
        offset -= size
    raise SplitError(f"byte {pos} lies past the end of the recording's files")
