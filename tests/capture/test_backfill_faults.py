"""Heal under faults: what cannot be filled stays a gap with a clear reason, nothing recorded
is rewritten, and a heal cut short by a crash resumes without duplicates."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from streamer import procs
from streamer.capture.backfill import heal_directory
from streamer.capture.timeline import TIMELINE, Timeline
from streamer.simulate.youtube_media import Content
from tests.capture.healkit import hole_fragments
from tests.capture.yt_support import record_with_outage, youtube


def _reasons(directory: Path) -> list[str]:
    return [g.reason for g in Timeline.load(directory).gaps()]


def test_fragments_gone_from_the_dvr_stay_gaps_with_the_reason(
    yt_content: Content, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content) as (media, clock, resolver):
        record_with_outage(clock, resolver, out, 50)
        first, _last = hole_fragments(media.started_at, out)
        media.forget(first, first + 2)
        report = asyncio.run(heal_directory(out, resolver))
    assert [r for _, _, r in report.remaining] == [
        f"dvr: fragments {first}-{first + 2} are not held any more (HTTP 404)"
    ]
    assert report.healed_s >= 14
    gaps = Timeline.load(out).gaps()
    assert len(gaps) == 1 and 5.5 <= gaps[0].duration_s <= 6.5
    assert "HTTP 404" in gaps[0].reason


def test_fragments_older_than_the_dvr_window_stay_gaps(yt_content: Content, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content) as (media, clock, resolver):
        record_with_outage(clock, resolver, out, 50)
        media.dvr_s = 20.0  # the DVR keeps only the last 20 s: the whole hole is too old
        report = asyncio.run(heal_directory(out, resolver))
    assert report.healed_s == 0 and report.remaining
    assert all("HTTP 404" in reason for reason in _reasons(out))


def test_garbage_fragment_bytes_end_in_a_clear_reason(yt_content: Content, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content) as (media, clock, resolver):
        record_with_outage(clock, resolver, out, 50)
        first, _last = hole_fragments(media.started_at, out)
        bad = first + 3
        media.fault = lambda kind, sq: (200, b"<html>oops</html>" * 40) if sq == bad else None
        report = asyncio.run(heal_directory(out, resolver))
    reasons = [r for _, _, r in report.remaining]
    assert len(reasons) == 1 and f"fragment {bad}: not a media fragment" in reasons[0]
    assert report.healed_s >= 16


def test_a_mux_failure_ends_in_a_clear_reason_and_keeps_the_recording(
    yt_content: Content, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content) as (_media, clock, resolver):
        record_with_outage(clock, resolver, out, 50)
        before = [s.file for s in Timeline.load(out).segments]
        monkeypatch.setattr(procs, "ffmpeg", lambda: "/bin/false")  # ffmpeg fails every run
        report = asyncio.run(heal_directory(out, resolver))
    assert [r.startswith("heal failed: mux failed") for _, _, r in report.remaining] == [True]
    assert [s.file for s in Timeline.load(out).segments] == before
    assert _reasons(out)[0].startswith("heal failed: mux failed")


def test_an_archive_shorter_than_the_broadcast_ends_in_a_clear_reason(
    yt_content: Content, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    with youtube(yt_content, archive_short_s=40) as (media, clock, resolver):
        record_with_outage(clock, resolver, out, 50)
        media.publish_archive()  # was_live: the fragments are gone, the archive lacks 40 s
        report = asyncio.run(heal_directory(out, resolver))
    assert report.status == "was_live"
    reasons = [r for _, _, r in report.remaining]
    assert reasons and all("shorter than the broadcast" in r for r in reasons)
    assert report.by_source["archive"] > 0


def _rows(directory: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (directory / TIMELINE).read_text().splitlines() if line]


def test_a_heal_cut_by_a_crash_resumes_without_duplicates(
    yt_content: Content, tmp_path: Path
) -> None:
    crashed, reference = tmp_path / "crashed", tmp_path / "reference"
    with youtube(yt_content) as (_media, clock, resolver):
        record_with_outage(clock, resolver, crashed, 50)
        shutil.copytree(crashed, reference)
        asyncio.run(heal_directory(reference, resolver))
        # What a crash after the 4th healed row leaves: every muxed file already renamed into
        # place (orphans without a row), a temp file, and a torn last line.
        before = (crashed / TIMELINE).read_text()
        healed = [r for r in _rows(reference) if r.get("src") == "dvr"]
        assert len(healed) >= 8
        for row in healed:
            shutil.copy(reference / row["file"], crashed / row["file"])
        stray = crashed / "part-001" / ".0000000099.ts.x.tmp"
        stray.write_bytes(b"partial")
        os.utime(stray, (time.time() - 1200, time.time() - 1200))  # left by the crash
        # a live recorder's write in progress beside the heal: not the heal's to remove
        writing = crashed / "part-001" / ".0000009999.ts.y.tmp"
        writing.write_bytes(b"in progress")
        torn = json.dumps(healed[4])[:40]
        kept = "".join(json.dumps(r) + "\n" for r in healed[:4])
        (crashed / TIMELINE).write_text(before + kept + torn)
        report = asyncio.run(heal_directory(crashed, resolver))
    assert report.complete
    rows = _rows_tolerant(crashed)
    segs = Counter((r["part"], r["seq"]) for r in rows if r.get("t") == "seg")
    assert max(segs.values()) == 1  # no segment twice
    assert (crashed / TIMELINE).read_text().startswith(before + kept)  # it only grew
    assert list(crashed.glob("part-*/.*.tmp")) == [writing]
    assert Timeline.load(crashed).gaps() == []
    assert Timeline.load(crashed).provenance() == Timeline.load(reference).provenance()


def _rows_tolerant(directory: Path) -> list[dict]:  # type: ignore[type-arg]
    rows = []
    for line in (directory / TIMELINE).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows
