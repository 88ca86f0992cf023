"""``streamer simulate --youtube``: the YouTube-shaped simulator, by hand.

It serves googlevideo's shapes on 127.0.0.1 (a 30 s HLS window, the DVR of fMP4 fragments,
then ``post_live`` and the archive) and keeps yt-dlp's info dict for it in ``OUT/info.json``
(and ``info.from-start.json``), rewritten every second, for ``record``/``heal --info-json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from streamer.files import atomic_write
from streamer.simulate.youtube_info import from_start_path, ytdlp_info
from streamer.simulate.youtube_media import YouTubeMedia, prepare

WATCH_URL = "https://www.youtube.com/watch?v="


def write_info(media: YouTubeMedia, path: Path) -> None:
    for target, from_start in ((path, False), (from_start_path(path), True)):
        atomic_write(target, json.dumps(ytdlp_info(media, from_start)).encode())


def run(
    root: Path,
    *,
    segment_s: float,
    width: int,
    height: int,
    duration: float,
    echo: Callable[[str], None],
    interrupts: Callable[[], int],
) -> None:
    """Encode ``duration`` s once, go live, end after ``duration`` (or at the first Ctrl-C),
    serve ``post_live`` for a few seconds, then the archive (``was_live``) until the second."""
    echo(f"encoding {duration:g} s of broadcast into {root} (once) ...")
    fps = 25 if (25 * segment_s).is_integer() else 10
    content = prepare(root, duration_s=duration, segment_s=segment_s, width=width,
                      height=height, fps=fps)  # fmt: skip
    media = YouTubeMedia(content).start()
    info = root / "info.json"
    try:
        write_info(media, info)
        echo(f"live: {media.master_url()}")
        echo(f"record it: streamer record {WATCH_URL}{media.video_id} --out DIR --info-json {info}")
        ends = time.monotonic() + duration
        while time.monotonic() < ends and not interrupts():
            write_info(media, info)  # URLs expire and the head moves: keep the dict fresh
            time.sleep(1.0)
        media.end()
        write_info(media, info)
        echo("ended (ENDLIST); post_live fragments for 5 s, then the archive (was_live)")
        time.sleep(5.0)
        media.publish_archive()
        write_info(media, info)
        echo("archive published (was_live); Ctrl-C to stop")
        while interrupts() < 2:
            write_info(media, info)
            time.sleep(1.0)
    finally:
        media.close()
