"""Heal end to end: real ffmpeg, the YouTube-shaped media simulator on loopback, the real
recorder. Broadcast time is jumped forward (the simulator's clock) instead of waited for, so
the issue's numbers (a recorder SIGKILLed for 5 minutes, a service 10 minutes late) cost the
heal's work, not their wall time: 2 s segments at 160x90, encoded once per session."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamer.capture.backfill import heal_directory, record_with_backfill
from streamer.capture.timeline import Timeline
from streamer.simulate.youtube_media import Content
from tests.capture.conftest import ROOT, streamer_cmd
from tests.capture.healkit import check_run_edges, hole_fragments, prepare_yt
from tests.capture.yt_support import (
    URL,
    check_frames,
    joined,
    record_with_outage,
    wait_for,
    write_info,
    youtube,
)


@pytest.fixture(scope="session")
def yt_long_content(tmp_path_factory: pytest.TempPathFactory) -> Content:
    """12 minutes of broadcast (the issue's outages), same shape as ``yt_content``."""
    return prepare_yt(tmp_path_factory.mktemp("yt-long"), duration_s=720)


def _at(media_start: float, seconds: float) -> datetime:
    return datetime.fromtimestamp(media_start + seconds, UTC)


def _inspect(directory: Path) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        streamer_cmd("inspect", str(directory), "--json"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    data: dict = json.loads(out.stdout)  # type: ignore[type-arg]
    return data


def _live_segments(directory: Path) -> int:
    return sum(1 for s in Timeline.load(directory).segments if s.src == "live")


@pytest.mark.slow
def test_recorder_sigkilled_for_5_minutes_and_restarted_heals_to_full_coverage(
    yt_long_content: Content, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    info = tmp_path / "info.json"
    with youtube(yt_long_content) as (media, clock, _resolver):
        write_info(media, info)
        cmd = streamer_cmd(
            "record", URL, "--out", str(out), "--info-json", str(info), "--stall-timeout", "20"
        )
        log = (tmp_path / "record.log").open("wb")
        first = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: _live_segments(out) >= 3, what="the first segments")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        before = (out / "timeline.jsonl").read_bytes()
        clock.advance(300)  # the recorder is down for 5 minutes (10 HLS windows)
        write_info(media, info)
        again = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        kept = _live_segments(out)
        wait_for(lambda: _live_segments(out) >= kept + 2, what="the resumed segments")
        media.end()
        write_info(media, info)
        again.wait(timeout=240)
        assert again.returncode == 0, (tmp_path / "record.log").read_text()

    after = (out / "timeline.jsonl").read_bytes()
    assert after.startswith(before.rstrip(b"\n").rsplit(b"\n", 1)[0])  # the timeline only grew
    data = _inspect(out)
    assert data["gaps"] == []
    assert data["provenance"]["dvr"] >= 268  # the outage less the 30 s window still listed
    timeline = Timeline.load(out)
    assert timeline.start is not None and timeline.end is not None
    assert data["covered_s"] == round((timeline.end - timeline.start).total_seconds(), 3)
    video, start = joined(out, tmp_path / "vod.ts")
    healed = [s for s in timeline.segments if s.src == "dvr"]
    joins = [healed[0].start, healed[-1].end]
    last = timeline.end - timedelta(seconds=0.1)
    check_frames(video, start, media, [start, *joins, joins[0] - timedelta(seconds=0.1), last])


@pytest.mark.slow
def test_started_10_minutes_late_from_start_covers_the_broadcast_from_its_start(
    yt_long_content: Content, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    with youtube(yt_long_content, history_s=600) as (media, _clock, resolver):
        result = asyncio.run(
            record_with_backfill(
                URL, out, resolver=resolver, from_start=True, heal_every_s=1.0, duration_s=5
            )
        )
        assert result.record.state == "stopped"
        timeline = Timeline.load(out)
        assert timeline.start is not None and timeline.end is not None
        assert abs((timeline.start - _at(media.started_at, 0)).total_seconds()) < 0.01
        assert timeline.gaps() == []
        prov = timeline.provenance()
        assert prov["dvr"] >= 596 and prov["live"] >= 4
        video, start = joined(out, tmp_path / "vod.ts")
        first_live = next(s for s in timeline.segments if s.src == "live")
        check_frames(
            video,
            start,
            media,
            [
                start,
                first_live.start,
                first_live.start - timedelta(seconds=0.1),
                _at(media.started_at, 61.3),
                _at(media.started_at, 421.7),
                timeline.end - timedelta(seconds=0.1),
            ],
        )


def test_a_range_the_dvr_forgot_is_healed_from_the_archive_after_the_end(
    yt_content: Content, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content) as (media, clock, resolver):
        record_with_outage(clock, resolver, out, 60)
        first, last = hole_fragments(media.started_at, out)
        media.forget(first + 5, last - 5)  # the middle of the outage is gone from the DVR
        live = asyncio.run(heal_directory(out, resolver))
        assert live.status == "is_live" and not live.complete
        assert any("not held any more (HTTP 404)" in r for _, _, r in live.remaining)
        media.end()
        post = asyncio.run(heal_directory(out, resolver))
        assert post.status == "post_live" and not post.complete
        reasons = [g["reason"] for g in _inspect(out)["gaps"]]
        assert reasons and all("404" in r for r in reasons), reasons
        media.publish_archive()
        info = write_info(media, tmp_path / "info.json")
        healed = subprocess.run(
            streamer_cmd("heal", str(out), "--info-json", str(info)),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        assert healed.returncode == 0, healed.stdout + healed.stderr
        assert "nothing missing" in healed.stdout or "nothing to heal" in healed.stdout
        data = _inspect(out)
        assert data["gaps"] == []
        assert data["provenance"]["archive"] >= 9.9 and data["provenance"]["dvr"] >= 19.9
        timeline = Timeline.load(out)
        archived = [s for s in timeline.segments if s.src == "archive"]
        video, start = joined(out, tmp_path / "vod.ts")
        edges = [archived[0].start, archived[-1].end, archived[0].start - timedelta(seconds=0.1)]
        check_frames(video, start, media, [*edges, archived[-1].end - timedelta(seconds=0.1)])


def test_dvr_numbering_offset_from_hls_is_placed_by_fragment_time(
    yt_content: Content, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content, hls_offset=1037) as (media, clock, resolver):
        record_with_outage(clock, resolver, out, 45)
        report = asyncio.run(heal_directory(out, resolver))
        assert report.complete, report.remaining
        timeline = Timeline.load(out)
        assert len(timeline.runs()) == 1  # one run: HLS numbers and timestamps continue
        dvr = [s for s in timeline.segments if s.src == "dvr"]
        assert dvr[0].seq > 1037
        check_run_edges(out, tmp_path / "vod.ts", media, dvr)


def test_backfill_while_live_leaves_no_new_gap_at_the_live_edge(
    yt_content: Content, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content, history_s=180) as (_media, _clock, resolver):
        result = asyncio.run(
            record_with_backfill(
                URL, out, resolver=resolver, from_start=True, heal_every_s=0.5, duration_s=10
            )
        )
    assert result.record.gaps == 0  # the recorder itself missed nothing
    timeline = Timeline.load(out)
    live = [s for s in timeline.segments if s.src == "live"]
    assert [s.seq for s in live] == list(range(live[0].seq, live[0].seq + len(live)))
    assert len(live) >= 4
    assert timeline.gaps() == []
    assert timeline.provenance()["dvr"] >= 170
