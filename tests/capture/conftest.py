"""Capture fixtures: real ffmpeg broadcasts and replay streams on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.simulate import ReplayServer
from streamer.simulate.youtube_media import Content, prepare

ROOT = Path(__file__).resolve().parents[2]
# Small pictures keep several concurrent encoders cheap on a 2-core machine.
SMALL = {"width": 320, "height": 180, "fps": 10}


def streamer_cmd(*args: str) -> list[str]:
    """The CLI as a subprocess (the real entry point)."""
    return [sys.executable, "-m", "streamer", *args]


@pytest.fixture(scope="session")
def replay_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pre-encoded replay segments, made once per session."""
    root = tmp_path_factory.mktemp("replay")
    ReplayServer(root, width=320, height=180, count=6, video_bitrate="300k").prepare()
    return root


@pytest.fixture
def replay(replay_cache: Path) -> Iterator[ReplayServer]:
    server = ReplayServer(
        replay_cache, width=320, height=180, count=6, window=6, video_bitrate="300k"
    ).start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def yt_content(tmp_path_factory: pytest.TempPathFactory) -> Content:
    """The YouTube-shaped simulator's broadcast: 240 s at 160x90, 10 fps, 2 s segments."""
    return prepare(tmp_path_factory.mktemp("yt"), duration_s=240, segment_s=2.0, width=160,
                   height=90, fps=10)  # fmt: skip


@pytest.fixture(autouse=True, scope="session")
def allow_loopback_sources() -> Iterator[None]:
    """The simulators here serve on 127.0.0.1, which the SSRF policy refuses by default:
    every capture test opts in explicitly (Settings() reads the variable). Session-scoped,
    so module-scoped recordings see it too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STREAMER_ALLOW_PRIVATE_SOURCES", "true")
        yield
