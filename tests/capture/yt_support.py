"""Support for the heal tests: the YouTube-shaped media simulator with a clock tests can jump,
a byte-joined view of a recording, and frame checks against the raw source (as in split)."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from streamer.capture.hls import Progress, record
from streamer.capture.timeline import Timeline
from streamer.simulate.youtube_info import SimulatedResolver, from_start_path, ytdlp_info
from streamer.simulate.youtube_media import Content, YouTubeMedia

FPS = 10
WIDTH, HEIGHT = 160, 90
SEGMENT_S = 2.0
URL = "https://www.youtube.com/watch?v=simLive0001"
FRAME_BYTES = WIDTH * HEIGHT * 3 // 2


class ShiftClock:
    """Wall clock plus an offset that a test moves forward instead of waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@contextmanager
def youtube(
    content: Content, *, history_s: float = 6.0, **options: object
) -> Iterator[tuple[YouTubeMedia, ShiftClock, SimulatedResolver]]:
    clock = ShiftClock()
    media = YouTubeMedia(content, clock=clock, started_at=clock() - history_s, **options)  # type: ignore[arg-type]
    media.start()
    try:
        yield media, clock, SimulatedResolver(media)
    finally:
        media.close()


def write_info(media: YouTubeMedia, path: Path) -> Path:
    """The info dict for a recorder in another process (``--info-json``)."""
    for target, from_start in ((path, False), (from_start_path(path), True)):
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(ytdlp_info(media, from_start)))
        tmp.replace(target)
    return path


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Poll a condition (a bound, not a sleep used as synchronisation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def joined(directory: Path, out: Path) -> tuple[Path, datetime]:
    """The recording's single run, byte-joined as split joins it, and its start time."""
    runs = Timeline.load(directory).runs()
    assert len(runs) == 1, [(r.start, r.end, len(r.segments)) for r in runs]
    with out.open("wb") as fh:
        for seg in runs[0].segments:
            fh.write((directory / seg.file).read_bytes())
    return out, runs[0].start


def _frames(args: list[str], indexes: list[int]) -> list[bytes]:
    expr = "+".join(f"eq(n\\,{i})" for i in indexes)
    out = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            *args,
            "-vf",
            f"select={expr}",
            "-vsync",
            "0",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ],
        capture_output=True,
        check=True,
        timeout=300,
    ).stdout
    frames = [out[i : i + FRAME_BYTES] for i in range(0, len(out), FRAME_BYTES)]
    assert len(frames) == len(indexes), (len(frames), len(indexes))
    return frames


def psnr(a: bytes, b: bytes) -> float:
    mse = sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) / len(a)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


def check_frames(
    video: Path, video_start: datetime, media: YouTubeMedia, at: list[datetime]
) -> None:
    """The decoded frame shown at each wall time is the source frame of that time, and no
    neighbour of it matches better (what the split tests check at cuts)."""
    indexes = sorted({round((t - video_start).total_seconds() * FPS) for t in at})
    got = _frames(["-i", str(video)], indexes)
    base = round((video_start.timestamp() - media.started_at) * FPS)
    wanted = sorted({base + i + d for i in indexes for d in (-2, -1, 0, 1, 2) if base + i + d >= 0})
    source = dict(
        zip(
            wanted,
            _frames(
                [
                    "-f",
                    "lavfi",
                    "-i",
                    f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS},trim=end_frame={wanted[-1] + 1}",
                ],
                wanted,
            ),
            strict=True,
        )
    )
    for index, frame in zip(indexes, got, strict=True):
        n = base + index
        scores = {m: psnr(frame, source[m]) for m in range(n - 2, n + 3) if m in source}
        best = max(scores, key=lambda m: scores[m])
        assert best == n, f"frame {index} of the VOD looks like source frame {best}, not {n}"
        assert scores[n] > 25, f"frame {index}: PSNR {scores[n]:.1f} dB"


def frame_count(video: Path) -> int:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_packets",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            str(video),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return int(out.strip().rstrip(","))


def record_segments(resolver, out: Path, count: int) -> None:  # type: ignore[no-untyped-def]
    """Record until ``count`` new segments are kept (the clock may be shifted: no --until)."""

    async def main() -> None:
        stop = asyncio.Event()

        def on_progress(p: Progress) -> None:
            if p.segments >= count:
                stop.set()

        await record(URL, out, resolver=resolver, stop=stop, on_progress=on_progress)

    asyncio.run(main())


def record_with_outage(media_clock, resolver, out: Path, outage_s: float) -> None:  # type: ignore[no-untyped-def]
    record_segments(resolver, out, 2)
    media_clock.advance(outage_s)
    record_segments(resolver, out, 16)  # the listed window, then the live edge
