"""A broadcast no service life saw live is recorded from the source after its end (issue 11):
the service starts once the broadcast is over, sees ``post_live`` (the DVR fragments) or
``was_live`` (the archive), records it from there and publishes every session complete, its
provenance ``dvr`` or ``archive``. Where the source holds nothing any more, the sessions fail
with that reason, not "never recorded".

Service style: a real orchestrator, real ffmpeg, the YouTube-shaped simulator on loopback,
local storage. The broadcast is placed in the past (its start moved back) instead of waited
for, so nothing depends on the machine's speed."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamer.capture import heal_archive
from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.pipeline.capture_task import recording_dir
from streamer.pipeline.orchestrator import Orchestrator
from streamer.pipeline.states import BroadcastState, SessionState
from streamer.simulate.youtube_info import SimulatedResolver
from streamer.simulate.youtube_media import Content, YouTubeMedia
from streamer.timeutil import iso, now, parse_iso
from tests.capture.healkit import prepare_yt, service_settings, until
from tests.capture.yt_support import URL, ShiftClock, check_frames, record_segments

LENGTH_S = 40.0  # the broadcast ran this long, and ended just before the service started
SESSIONS = (("s1", 2.0, 18.0), ("s2", 26.0, 38.0))  # seconds into the broadcast


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> Content:
    return prepare_yt(tmp_path_factory.mktemp("yt"), duration_s=60)


def _settings(root: Path, began: datetime, end_s: float = LENGTH_S) -> Settings:
    ended = began + timedelta(seconds=end_s)
    sessions = "\n".join(
        f'  - {{id: {sid}, broadcast: main, start: "{iso(began + timedelta(seconds=a))}", '
        f'end: "{iso(began + timedelta(seconds=b))}", title: {sid}}}'
        for sid, a, b in SESSIONS
    )
    schedule = f"""
event: {{id: fest, title: Fest, timezone: UTC}}
broadcasts:
  - {{id: main, url: "{URL}", start: "{iso(began)}", end: "{iso(ended)}"}}
sessions:
{sessions}
"""
    return service_settings(root, schedule, pad_s=0.0, late_limit_s=600.0)


def _ended_broadcast(content: Content) -> tuple[YouTubeMedia, datetime]:
    """A broadcast that ran LENGTH_S and is over now (post_live)."""
    # on a whole second: a broadcast never seen live has only yt-dlp's release_timestamp
    # (whole seconds) to place its archive by
    began = now().replace(microsecond=0) - timedelta(seconds=LENGTH_S + 1)
    media = YouTubeMedia(content, started_at=began.timestamp())
    media.start()
    media.end()
    assert media.live_status == "post_live"
    return media, began


def _serve(
    settings: Settings, media: YouTubeMedia, orch: Orchestrator | None = None
) -> Orchestrator:
    if orch is None:
        orch = Orchestrator(settings, resolver=SimulatedResolver(media), tick_s=0.2)  # type: ignore[arg-type]

    def settled() -> bool:
        states = [orch.store.session("fest", sid).state for sid, _, _ in SESSIONS]
        return all(s in (SessionState.PUBLISHED, SessionState.FAILED) for s in states)

    async def go() -> None:
        await orch.start()
        try:
            await until(settled, 120, "every session published or failed")
        finally:
            await orch.shutdown()

    asyncio.run(go())
    return orch


@pytest.mark.parametrize("source", ["post_live", "was_live"])
def test_a_broadcast_first_seen_after_its_end_publishes_every_session(
    content: Content, tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    media, began = _ended_broadcast(content)
    try:
        if source == "was_live":
            # several ffmpeg runs, joined in s1
            monkeypatch.setattr(heal_archive, "ARCHIVE_CHUNK", 7)
            media.publish_archive()  # the DVR fragments are gone (404); the archive is there
            assert media.live_status == "was_live"
        settings = _settings(tmp_path, began)
        orch = _serve(settings, media)
        provenance = "dvr" if source == "post_live" else "archive"
        assert orch.store.broadcast("fest", "main").state == BroadcastState.ENDED
        for sid, _, _ in SESSIONS:
            s = orch.store.session("fest", sid)
            assert s.state == SessionState.PUBLISHED, (sid, s.state, s.reason)
            record = json.loads((settings.data_dir / "public" / "fest" / f"{sid}.json").read_text())
            assert record["status"] == "complete" and record["gaps"] == [], record
            assert record["coverage"] == 1.0
            assert record["provenance"].get(provenance, 0) > 0, record["provenance"]
            assert not record["provenance"].get("live"), record["provenance"]
            start, end = parse_iso(record["start"]), parse_iso(record["end"])
            video = settings.data_dir / "public" / "fest" / f"{sid}.mp4"
            # the edges, and either side of 14 s (where the archive's chunks of 7 segments join)
            join = began + timedelta(seconds=14)
            at = [start, end - timedelta(seconds=0.2)]
            if start < join < end:
                at += [join - timedelta(seconds=0.1), join]
            check_frames(video, start, media, at)
    finally:
        media.close()


def test_a_source_that_holds_nothing_fails_the_sessions_with_its_reason(
    content: Content, tmp_path: Path
) -> None:
    media, began = _ended_broadcast(content)
    try:
        media.forget(0, media.head_sq())  # post_live, but the DVR dropped every fragment
        settings = _settings(tmp_path, began)
        orch = _serve(settings, media)
        for sid, _, _ in SESSIONS:
            s = orch.store.session("fest", sid)
            assert s.state == SessionState.FAILED, (sid, s.state)
            assert s.reason is not None and "never recorded" not in s.reason, s.reason
            assert "not held any more" in s.reason, s.reason
    finally:
        media.close()


def test_a_capture_resumed_after_the_end_fills_to_the_end_from_the_archive(
    content: Content, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service killed while recording comes back once the broadcast is over (was_live):
    the time after its last segment, which no HLS window lists any more, comes from the
    archive, and the session there is published complete."""
    clock = ShiftClock()
    clock.advance(-40.0)  # the broadcast's time runs 40 s behind, so that all of it is past
    began = datetime.fromtimestamp(math.floor(clock()) - 20.0, UTC)
    media = YouTubeMedia(content, clock=clock, started_at=began.timestamp())
    media.start()
    try:
        settings = _settings(tmp_path, began, end_s=90.0)
        monkeypatch.setenv("STREAMER_ALLOW_PRIVATE_SOURCES", "true")  # the live recorder's
        record_segments(SimulatedResolver(media), recording_dir(settings, "fest", "main"), 3)
        last = Timeline.load(recording_dir(settings, "fest", "main")).end
        assert last is not None and last < began + timedelta(seconds=26)  # s2 is not recorded
        clock.advance(40.0)  # the service is down; the broadcast ends 60 s in, just now
        media.end()
        media.publish_archive()
        orch = Orchestrator(settings, resolver=SimulatedResolver(media), tick_s=0.2)  # type: ignore[arg-type]
        orch._load_schedules()
        # the service was killed while the broadcast was live
        orch.store.set_broadcast_state("fest", "main", BroadcastState.WATCHING)
        orch.store.set_broadcast_state("fest", "main", BroadcastState.LIVE)
        orch.store.save_recording("fest", "main", dir=str(recording_dir(settings, "fest", "main")))
        _serve(settings, media, orch)
        assert orch.store.broadcast("fest", "main").state == BroadcastState.ENDED
        s1 = orch.store.session("fest", "s1")
        assert s1.state == SessionState.PUBLISHED, (s1.state, s1.reason)
        s2 = orch.store.session("fest", "s2")
        assert s2.state == SessionState.PUBLISHED, (s2.state, s2.reason)
        record = json.loads((settings.data_dir / "public" / "fest" / "s2.json").read_text())
        assert record["status"] == "complete" and record["provenance"]["archive"] > 0, record
        start, end = parse_iso(record["start"]), parse_iso(record["end"])
        video = settings.data_dir / "public" / "fest" / "s2.mp4"
        check_frames(video, start, media, [start, end - timedelta(seconds=0.2)])
    finally:
        media.close()
