"""Capture fixtures: real ffmpeg broadcasts and replay streams on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.simulate import ReplayServer
from streamer.simulate.youtube_media import Content
from tests.capture.healkit import prepare_yt
from tests.conftest import built_once

ROOT = Path(__file__).resolve().parents[2]
# Small pictures keep several concurrent encoders cheap on a 2-core machine.
SMALL = {"width": 320, "height": 180, "fps": 10}


def streamer_cmd(*args: str) -> list[str]:
    """The CLI as a subprocess (the real entry point)."""
    return [sys.executable, "-m", "streamer", *args]


@pytest.fixture(scope="session")
def replay_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pre-encoded replay segments, made once per run."""

    def build(root: Path) -> None:
        ReplayServer(root, width=320, height=180, count=6, video_bitrate="300k").prepare()

    return built_once(tmp_path_factory, "replay", build)


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

    def build(root: Path) -> Content:
        return prepare_yt(root, duration_s=240)

    return build(built_once(tmp_path_factory, "yt", build))  # the second call finds it made


@pytest.fixture(autouse=True, scope="module")
def allow_loopback_sources() -> Iterator[None]:
    """The simulators here serve on 127.0.0.1, which the SSRF policy refuses by default:
    every capture test opts in explicitly (Settings() reads the variable). Module-scoped, so
    module-scoped recordings see it too, and undone after each module: tests elsewhere in the
    same process (an xdist worker runs many areas) keep the strict default."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STREAMER_ALLOW_PRIVATE_SOURCES", "true")
        yield
