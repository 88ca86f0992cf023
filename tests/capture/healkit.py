"""Helpers the heal and backfill tests share (capture and pipeline): the simulator's
broadcast in the tests' shape, where a recording's hole lies in DVR fragments, frame checks
at a healed run's edges, and a service's schedule and settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from streamer.capture.timeline import Segment, Timeline
from streamer.config import Settings
from streamer.simulate.youtube_media import Content, YouTubeMedia, prepare
from tests.capture.yt_support import FPS, HEIGHT, SEGMENT_S, WIDTH, check_frames, joined


def prepare_yt(root: Path, duration_s: float) -> Content:
    """``duration_s`` of the simulator's broadcast: 160x90, 10 fps, 2 s segments."""
    return prepare(
        root, duration_s=duration_s, segment_s=SEGMENT_S, width=WIDTH, height=HEIGHT, fps=FPS
    )


def hole_fragments(media_start: float, directory: Path) -> tuple[int, int]:
    """The first and last DVR fragment of the recording's first hole."""
    hole = Timeline.load(directory).gaps()[0]
    first = round((hole.start.timestamp() - media_start) / SEGMENT_S)
    last = round((hole.end.timestamp() - media_start) / SEGMENT_S) - 1
    return first, last


def check_run_edges(directory: Path, vod: Path, media: YouTubeMedia, run: list[Segment]) -> None:
    """The recording, joined into ``vod``, shows the source's frames either side of both
    edges of ``run`` (healed segments between live ones)."""
    video, start = joined(directory, vod)
    tenth = timedelta(seconds=0.1)
    edges = [run[0].start - tenth, run[0].start, run[-1].end - tenth, run[-1].end]
    check_frames(video, start, media, edges)


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` in the event loop (a bound, not a sleep used as synchronisation)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def service_settings(root: Path, schedule: str, **options: Any) -> Settings:
    """Settings for a service test: ``schedule`` (YAML) as ``fest.yaml``, a data dir under
    ``root``, quick polls, and the simulator's 127.0.0.1 allowed."""
    sched = root / "schedules"
    sched.mkdir(parents=True)
    (sched / "fest.yaml").write_text(schedule, "utf-8")
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root / "data",
        schedules=sched,
        grace_s=1.0,
        watch_poll_s=1.0,
        allow_private_sources=True,  # the simulator is on 127.0.0.1
        **options,
    )
