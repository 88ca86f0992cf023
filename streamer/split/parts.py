"""What a cut is made of: per piece, the re-encoded ends, the copied middle and the audio."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from streamer.split.probe import MediaInfo, Packet

Mode = Literal["exact", "copy"]

# seek target past a keyframe's DTS: lands exactly on it (the next packet is >1 frame on)
LAND_S = 0.001
EPS_S = 0.001
MAX_URL = 60_000  # a longer concat: URL goes into a concatf list file (argv limit)


@dataclass
class Encode:
    """Re-encode ``frames`` frames from pts ``start``, decoding from keyframe ``from_key``."""

    start: float
    from_key: Packet
    frames: int
    path: Path
    # the input from the file holding ``from_key`` on, seeked by absolute time; None: the
    # piece's whole URL, seeked from its start (a seek deep into a long concat costs ~0.1 CPU-s)
    url: str | None = None


@dataclass
class Middle:
    url: str
    inpoint: float  # keyframe DTS + LAND_S
    start: float  # keyframe pts


@dataclass(frozen=True)
class InbandAudio:
    """The piece's audio carried by its own parts, so the join reads one input.

    Source AAC frames [``start``, ``end``) (pts): the copied middle holds those of the PES
    packets between K and E, [``middle_start``, ``middle_end``); the head's run copies the
    frames before them, the tail's run those after.
    """

    start: float
    end: float
    middle_start: float
    middle_end: float
    pid: int | None


@dataclass
class PieceCut:
    url: str
    info: MediaInfo
    start: float  # pts of the first frame kept
    end: float  # pts just after the last frame kept
    head: Encode | None = None
    middle: Middle | None = None
    tail: Encode | None = None
    tail_start: float = 0.0
    audio: Path | None = None
    audio_frames: int = 0
    inband: InbandAudio | None = None
    jobs: list[list[str]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def video_frames(self) -> int:
        """About how many video frames the piece gives (for sizing, not for trimming)."""
        v = self.info.video
        return round(self.duration / v.frame_s) if v is not None else 0


class Joiner:
    """Builds protocol URLs that read several segment files as one byte stream."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.count = 0

    def url(self, files: list[Path], cut_last_at: int | None = None) -> str:
        nodes = [str(f) for f in files]
        if cut_last_at is not None:
            nodes[-1] = f"subfile,,start,0,end,{cut_last_at},,:{nodes[-1]}"
        joined = "concat:" + "|".join(nodes)
        if len(joined) <= MAX_URL and not any("|" in n for n in nodes):
            return joined
        self.count += 1
        listing = self.workdir / f"join-{self.count}.txt"
        listing.write_text("".join(n + "\n" for n in nodes), "utf-8")
        return f"concatf:{listing}"


def count_audio(cuts: list[PieceCut]) -> None:
    """Whole AAC frames per piece, counted on the running total: the pieces' audio files are
    read back to back as one stream, so each piece's audio starts within half a frame of its
    video (the rounding does not add up over many pieces)."""
    offset = 0.0
    for c in cuts:
        if c.audio is not None and c.info.audio is not None:
            afd = c.info.audio.frame_s
            before = round(offset / afd)
            c.audio_frames = max(1, round((offset + c.duration) / afd) - before)
        offset += c.duration
