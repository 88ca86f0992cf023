"""Faults (issue 15 §3): real parts (ffmpeg-encoded recording, the real split and publish
stages, moto's S3 server, SQLite) with the clock and the sleeps injected where time matters.

``pipeline``: a state DB with one event (two 6 s sessions of a broadcast that is over) and a
real 12 s recording of 2 s HLS segments, as capture leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from streamer.capture.timeline import TimelineWriter
from streamer.config import Settings
from streamer.pipeline import stages
from streamer.pipeline.states import BroadcastState
from streamer.pipeline.store import Store
from streamer.schedule.model import Program
from tests.publish.conftest import _aws_dummies, bucket, moto_s3  # noqa: F401  (fixtures)
from tests.split.conftest import at, encode_hls, make_program

EVENT = "testcon"
SESSIONS = ("s1", "s2")


@pytest.fixture(scope="session")
def hls_source(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, float]]:
    """Six 2 s segments (12 s), encoded once."""
    return encode_hls(tmp_path_factory.mktemp("faults-src"), 0, 12)


@dataclass
class Pipeline:
    settings: Settings
    store: Store
    program: Program
    recording: Path


def write_recording(directory: Path, segments: list[tuple[Path, float]]) -> None:
    with TimelineWriter(directory) as writer:
        writer.write_meta({"source_url": "https://example.org/live", "broadcast_id": "day1"})
        writer.start()
        clock = 0.0
        for seq, (path, dur) in enumerate(segments):
            writer.write_segment(1, seq, path.read_bytes(), at(clock), dur, True)
            clock += dur
        writer.end("ended", "ENDLIST")


def make_pipeline(settings: Settings, segments: list[tuple[Path, float]]) -> Pipeline:
    program = make_program([("s1", 0, 6), ("s2", 6, 12)])
    store = stages.store_for(settings)
    store.sync_program(program)
    rec = settings.recordings_dir / EVENT / "day1"
    write_recording(rec, segments)
    store.save_recording(EVENT, "day1", dir=str(rec))
    for state in (BroadcastState.WATCHING, BroadcastState.LIVE, BroadcastState.ENDED):
        store.set_broadcast_state(EVENT, "day1", state)
    store.take_posts()
    return Pipeline(settings, store, program, rec)


@pytest.fixture
def pipeline(tmp_path: Path, hls_source: list[tuple[Path, float]]) -> Pipeline:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        schedules=tmp_path / "schedules",
        split_mode="copy",
    )
    return make_pipeline(settings, hls_source)
