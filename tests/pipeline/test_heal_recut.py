"""A session cut before a heal is re-cut and republished (issue 11): the service, started after
the broadcast began (its outage), publishes the first session incomplete from what the 30 s
HLS window still listed; the heal then fills the rest from the DVR, and the session comes
out again as version 2, complete, its record showing the healed (dvr) seconds.

Service style: a real orchestrator, real ffmpeg, the YouTube-shaped simulator on loopback,
local storage. The heal is held back (a gate in the resolver) until the incomplete version
is out, so the order never depends on the machine's speed."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamer.config import Settings
from streamer.pipeline.orchestrator import Orchestrator
from streamer.pipeline.states import SessionState
from streamer.simulate.youtube_info import SimulatedResolver
from streamer.simulate.youtube_media import Content, YouTubeMedia
from streamer.timeutil import iso, now, parse_iso
from tests.capture.healkit import prepare_yt, service_settings, until
from tests.capture.yt_support import SEGMENT_S, URL, check_frames

HISTORY_S = 60.0  # the broadcast began this long before the service started


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> Content:
    return prepare_yt(tmp_path_factory.mktemp("yt"), duration_s=240)


class GatedResolver(SimulatedResolver):
    """The simulator's info dicts; the heal's (``live_from_start``) waits for the gate."""

    def __init__(self, media: YouTubeMedia) -> None:
        super().__init__(media)
        self.gate = threading.Event()

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        if live_from_start:
            self.gate.wait(timeout=300)
        return super().extract(url, live_from_start=live_from_start)


def _settings(root: Path, t0: datetime) -> Settings:
    start = t0 - timedelta(seconds=HISTORY_S)
    schedule = f"""
event: {{id: fest, title: Fest, timezone: UTC}}
broadcasts:
  - {{id: main, url: "{URL}", start: "{iso(start)}", end: "{iso(t0 + timedelta(seconds=300))}"}}
sessions:
  - {{id: s1, broadcast: main, start: "{iso(t0 - timedelta(seconds=50))}",
      end: "{iso(t0 + timedelta(seconds=6))}", title: Opening}}
"""
    return service_settings(root, schedule, late_limit_s=60.0, stall_timeout_s=30.0)


def test_session_published_incomplete_is_recut_as_v2_after_the_heal(
    content: Content, tmp_path: Path
) -> None:
    t0 = now()
    media = YouTubeMedia(content, started_at=t0.timestamp() - HISTORY_S)
    media.start()
    resolver = GatedResolver(media)
    settings = _settings(tmp_path, t0)
    orch = Orchestrator(settings, resolver=resolver, tick_s=0.2)  # type: ignore[arg-type]
    published: list[dict[str, Any]] = []
    orch.listeners.append(
        lambda kind, payload: published.append(payload) if kind == "session.published" else None
    )

    def state() -> tuple[str, int | None]:
        s = orch.store.session("fest", "s1")
        return s.state, s.vod_version

    async def go() -> None:
        await orch.start()
        try:
            await until(lambda: state()[1] == 1, 120, "the first (incomplete) version")
            assert state() == (SessionState.INCOMPLETE, 1)
            resolver.gate.set()  # now the heal may fill the outage from the DVR
            await until(lambda: state()[1] == 2, 120, "the re-cut after the heal")
        finally:
            resolver.gate.set()
            await orch.shutdown()

    try:
        asyncio.run(go())
    finally:
        media.close()

    assert state() == (SessionState.PUBLISHED, 2)
    assert [(p["version"], p["status"]) for p in published] == [
        (1, "incomplete"),
        (2, "complete"),
    ]
    record = json.loads((settings.data_dir / "public" / "fest" / "s1.json").read_text())
    assert record["version"] == 2 and record["status"] == "complete"
    assert record["gaps"] == [] and record["coverage"] == 1.0
    # the 20 s before the HLS window (less a segment either way) came from the DVR
    assert record["provenance"]["dvr"] >= 20 - 2 * SEGMENT_S, record["provenance"]
    assert record["provenance"]["live"] > 0
    video = settings.data_dir / "public" / "fest" / "s1.mp4"  # local storage
    start = parse_iso(record["start"])
    end = parse_iso(record["end"])
    check_frames(video, start, media, [start, end - timedelta(seconds=0.2)])
