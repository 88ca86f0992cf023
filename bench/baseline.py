"""The capture benchmarks' shared baseline: bare ffmpeg copying a live HLS stream to 1 s
segments, as a person would record it without streamer."""

from __future__ import annotations

from pathlib import Path


def ffmpeg_segment_args(url: str, out: Path, duration: float, loglevel: str = "error") -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-v", loglevel, "-i", url,
        "-c", "copy", "-f", "segment", "-segment_time", "1",
        "-t", str(duration), str(out / "%06d.ts"),
    ]  # fmt: skip
