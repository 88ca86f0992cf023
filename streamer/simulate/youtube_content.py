"""The pre-encoded broadcast behind the loopback YouTube media server: one encode
(``testsrc2`` + tone, a keyframe every segment) cut three ways, MPEG-TS segments for HLS and
video-only and audio-only fMP4 fragments for the adaptive (DASH) formats. Made once per
shape and reused."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from streamer import procs


@dataclass(frozen=True)
class Content:
    """The pre-encoded broadcast: per segment index k, a TS file and two fMP4 fragments."""

    root: Path
    segment_s: float
    count: int
    width: int
    height: int
    fps: int

    def ts(self, k: int) -> Path:
        return self.root / "ts" / f"{k}.ts"

    def fragment(self, kind: str, k: int) -> Path:
        return self.root / kind / f"{k}.m4s"

    def init(self, kind: str) -> Path:
        return self.root / kind / "init.mp4"

    @property
    def source(self) -> Path:
        return self.root / "src.mp4"


def prepare(
    root: Path,
    *,
    duration_s: float,
    segment_s: float = 2.0,
    width: int = 160,
    height: int = 90,
    fps: int = 10,
) -> Content:
    """Encode ``duration_s`` of broadcast once (reused when ``root`` already holds it)."""
    gop = round(segment_s * fps)
    if gop < 1 or abs(gop - segment_s * fps) > 1e-6:
        raise ValueError("segment_s * fps must be a whole number of frames")
    out = Path(root) / f"yt-{width}x{height}-{fps}fps-{segment_s:g}s-{duration_s:g}"
    count = math.floor(duration_s / segment_s)
    content = Content(out, segment_s, count, width, height, fps)
    if (out / "done").is_file():
        return content
    for sub in ("ts", "v", "a"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    ff = [procs.ffmpeg(), "-hide_banner", "-v", "error", "-nostdin", "-y"]
    procs.run(
        [*ff, "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", f"{count * segment_s:g}", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", "-b:v", "80k", "-g", str(gop), "-keyint_min", str(gop),
         "-sc_threshold", "0", "-bf", "0", "-c:a", "aac", "-b:a", "48k", "-ac", "2",
         str(content.source)],
        timeout=1800,
    )  # fmt: skip
    hls = ["-f", "hls", "-hls_time", f"{segment_s:g}", "-hls_list_size", "0"]
    procs.run(
        [*ff, "-i", str(content.source), "-c", "copy", *hls, "-hls_segment_type", "mpegts",
         "-hls_segment_filename", str(out / "ts" / "%d.ts"), str(out / "ts" / "index.m3u8")],
        timeout=600,
    )  # fmt: skip
    for kind, stream in (("v", "0:v"), ("a", "0:a")):
        procs.run(
            [*ff, "-i", str(content.source), "-map", stream, "-c", "copy", *hls,
             "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
             "-hls_segment_filename", str(out / kind / "%d.m4s"), str(out / kind / "index.m3u8")],
            timeout=600,
        )  # fmt: skip
    (out / "done").write_text("ok\n")
    return content
