"""Recording real simulated broadcasts (ffmpeg on loopback, yt-dlp's generic extractor).

The scenarios are independent streams, so one module fixture runs them all at once and the
tests below check each result: the module costs about 40 s of wall time instead of 3 minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streamer import procs
from streamer.capture.hls import Progress, RecordResult, record
from streamer.capture.timeline import Timeline
from streamer.simulate import SimulatedBroadcast
from tests.capture.conftest import ROOT, SMALL, streamer_cmd

pytestmark = pytest.mark.slow


@dataclass
class Outcome:
    result: RecordResult | None = None
    timeline: Timeline | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


class Tracker:
    """Progress callback that lets a scenario wait for N segments."""

    def __init__(self) -> None:
        self.segments = 0
        self._changed = asyncio.Event()

    def __call__(self, p: Progress) -> None:
        self.segments = p.segments
        self._changed.set()

    async def reach(self, n: int, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while self.segments < n:
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"recorder kept only {self.segments} of {n} segments")
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=left)
            except TimeoutError:
                continue


async def _broadcast(root: Path) -> SimulatedBroadcast:
    sim = SimulatedBroadcast(root / "src", window=10, **SMALL).start()
    await asyncio.to_thread(sim.wait_ready, 2)
    return sim


async def plain_20s(root: Path) -> Outcome:
    sim = await _broadcast(root)
    try:
        result = await record(sim.url, root / "rec", duration_s=20, stall_timeout_s=20)
    finally:
        sim.close()
    return Outcome(result, Timeline.load(root / "rec"))


async def paused_8s(root: Path) -> Outcome:
    sim = await _broadcast(root)
    tracker = Tracker()
    try:
        task = asyncio.create_task(
            record(sim.url, root / "rec", duration_s=26, stall_timeout_s=25, on_progress=tracker)
        )
        await tracker.reach(5)
        sim.pause(8)
        result = await task
    finally:
        sim.close()
    return Outcome(result, Timeline.load(root / "rec"))


async def sequence_reset(root: Path) -> Outcome:
    sim = await _broadcast(root)
    tracker = Tracker()
    try:
        task = asyncio.create_task(
            record(sim.url, root / "rec", duration_s=16, stall_timeout_s=15, on_progress=tracker)
        )
        await tracker.reach(5)
        sim.restart(reset_sequence=True)
        result = await task
    finally:
        sim.close()
    return Outcome(result, Timeline.load(root / "rec"))


async def killed_source(root: Path) -> Outcome:
    sim = await _broadcast(root)
    tracker = Tracker()
    try:
        task = asyncio.create_task(
            record(sim.url, root / "rec", stall_timeout_s=10, on_progress=tracker)
        )
        await tracker.reach(4)
        killed = time.monotonic()
        sim.kill()
        result = await asyncio.wait_for(task, timeout=60)
        waited = time.monotonic() - killed
    finally:
        sim.close()
    return Outcome(result, Timeline.load(root / "rec"), {"waited": waited})


async def clean_end(root: Path) -> Outcome:
    sim = await _broadcast(root)
    tracker = Tracker()
    try:
        task = asyncio.create_task(record(sim.url, root / "rec", on_progress=tracker))
        await tracker.reach(5)
        sim.stop()
        result = await asyncio.wait_for(task, timeout=30)
    finally:
        sim.close()
    return Outcome(result, Timeline.load(root / "rec"))


async def resumed_after_window(root: Path) -> Outcome:
    """Stopped, then resumed after the 4 s window moved on: a gap only for what is gone."""
    sim = SimulatedBroadcast(root / "src", window=4, **SMALL).start()
    await asyncio.to_thread(sim.wait_ready, 2)
    out = root / "rec"
    try:
        stop = asyncio.Event()
        tracker = Tracker()
        task = asyncio.create_task(record(sim.url, out, stop=stop, on_progress=tracker))
        await tracker.reach(4)
        stop.set()
        first = await task
        await asyncio.sleep(9)
        second = await record(sim.url, out, duration_s=5)
    finally:
        sim.close()
    return Outcome(second, Timeline.load(out), {"first": first})


async def resumed_after_reset(root: Path) -> Outcome:
    """The source reset its numbering while the recorder was down: a new part on resume."""
    sim = await _broadcast(root)
    out = root / "rec"
    try:
        first = await record(sim.url, out, duration_s=4)
        sim.restart(reset_sequence=True)
        await asyncio.sleep(3)
        second = await record(sim.url, out, duration_s=4)
    finally:
        sim.close()
    return Outcome(second, Timeline.load(out), {"first": first})


def _seg_rows(directory: Path) -> int:
    try:
        text = (directory / "timeline.jsonl").read_text()
    except FileNotFoundError:
        return 0
    return text.count('"t": "seg"')


def _killed_recorder(root: Path) -> Outcome:
    """`streamer record` SIGKILLed mid-stream, then restarted within the playlist window."""
    sim = SimulatedBroadcast(root / "src", window=12, **SMALL).start()
    sim.wait_ready(2)
    out = root / "rec"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    notes: dict[str, Any] = {}
    try:
        first = procs.spawn(
            streamer_cmd("record", sim.url, "--out", str(out), "--stall-timeout", "30"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=str(ROOT),
        )
        deadline = time.monotonic() + 40
        while _seg_rows(out) < 5 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait()
        notes["before"] = _seg_rows(out)
        time.sleep(4)  # an outage well inside the 12 s window
        second = subprocess.run(
            streamer_cmd("record", sim.url, "--out", str(out), "--duration", "8"),
            capture_output=True,
            text=True,
            timeout=90,
            cwd=str(ROOT),
            env=env,
        )
        notes["rc"] = second.returncode
        notes["stdout"] = second.stdout
        notes["stderr"] = second.stderr[-2000:]
    finally:
        sim.close()
    return Outcome(None, Timeline.load(out), notes)


async def killed_recorder(root: Path) -> Outcome:
    return await asyncio.to_thread(_killed_recorder, root)


SCENARIOS: dict[str, Callable[[Path], Awaitable[Outcome]]] = {
    "plain": plain_20s,
    "paused": paused_8s,
    "reset": sequence_reset,
    "killed": killed_source,
    "ended": clean_end,
    "crash": killed_recorder,
    "outside": resumed_after_window,
    "resetdown": resumed_after_reset,
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    async def one(name: str, fn: Callable[[Path], Awaitable[Outcome]]) -> Outcome:
        try:
            return await fn(tmp_path_factory.mktemp(name))
        except BaseException as exc:  # reported by the test that needs it
            return Outcome(error=exc)

    async def main() -> dict[str, Outcome]:
        names = list(SCENARIOS)
        done = await asyncio.gather(*(one(n, SCENARIOS[n]) for n in names))
        return dict(zip(names, done, strict=True))

    return asyncio.run(main())


def _get(outcomes: dict[str, Outcome], name: str) -> Outcome:
    outcome = outcomes[name]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.timeline is not None
    return outcome


def test_record_20s_one_part_no_gaps_playable(outcomes: dict[str, Outcome]) -> None:
    outcome = _get(outcomes, "plain")
    timeline, result = outcome.timeline, outcome.result
    assert timeline is not None and result is not None
    assert result.state == "stopped", result.reason
    report = timeline.to_json()
    assert len(report["parts"]) == 1
    assert report["gaps"] == []
    assert 18.0 <= report["covered_s"] <= 22.0, report
    assert report["state"] == "stopped"
    seqs = [s.seq for s in timeline.segments]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # The segments concatenate into a stream ffprobe reads, about as long as covered.
    joined = timeline.directory / "joined.ts"
    with joined.open("wb") as fh:
        for seg in timeline.segments:
            fh.write((timeline.directory / seg.file).read_bytes())
    probe = procs.run(
        [
            procs.ffprobe(),
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "json",
            str(joined),
        ],
        timeout=30,
    )
    info = json.loads(probe.stdout)
    codecs = {s["codec_name"] for s in info["streams"]}
    assert {"h264", "aac"} <= codecs
    assert abs(float(info["format"]["duration"]) - report["covered_s"]) < 1.5


def test_source_paused_8s_is_a_gap(outcomes: dict[str, Outcome]) -> None:
    outcome = _get(outcomes, "paused")
    timeline, result = outcome.timeline, outcome.result
    assert timeline is not None and result is not None
    assert result.state == "stopped", result.reason
    gaps = timeline.gaps()
    assert len(gaps) == 1, timeline.to_json()
    assert 6.0 <= gaps[0].duration_s <= 10.0, gaps
    assert result.gaps == 1
    # Recording went on after the pause.
    assert timeline.end is not None and timeline.end > gaps[0].end
    assert sum(1 for s in timeline.segments if s.start >= gaps[0].end) >= 3


def test_sequence_reset_opens_new_part_without_hanging(outcomes: dict[str, Outcome]) -> None:
    outcome = _get(outcomes, "reset")
    timeline, result = outcome.timeline, outcome.result
    assert timeline is not None and result is not None
    assert result.state == "stopped", result.reason
    parts = timeline.parts()
    assert len(parts) == 2, timeline.to_json()
    assert parts[1].reason == "sequence reset"
    # At most one segment lost after the restart: the new numbering starts at 0.
    assert parts[1].segments[0].seq <= 1
    assert len(parts[1].segments) >= 3
    assert (parts[1].start - parts[0].end).total_seconds() < 3.5


def test_killed_source_stalls_within_limit_and_keeps_data(outcomes: dict[str, Outcome]) -> None:
    outcome = _get(outcomes, "killed")
    timeline, result = outcome.timeline, outcome.result
    assert timeline is not None and result is not None
    assert result.state == "stalled", result.reason
    assert "no new segment" in result.reason
    assert 8.0 <= outcome.notes["waited"] <= 16.0, outcome.notes
    assert len(timeline.segments) >= 4
    assert all((timeline.directory / s.file).stat().st_size == s.bytes for s in timeline.segments)
    assert timeline.end_state == "stalled"


def test_endlist_ends_the_recording(outcomes: dict[str, Outcome]) -> None:
    outcome = _get(outcomes, "ended")
    assert outcome.result is not None and outcome.timeline is not None
    assert outcome.result.state == "ended", outcome.result.reason
    assert "ENDLIST" in outcome.result.reason
    assert outcome.timeline.gaps() == []


def test_recorder_sigkilled_and_restarted_within_window_has_no_gap(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = _get(outcomes, "crash")
    timeline = outcome.timeline
    assert timeline is not None
    notes = outcome.notes
    assert notes["before"] >= 5
    assert notes["rc"] == 0, notes
    assert notes["stdout"].startswith("stopped:"), notes
    assert timeline.gaps() == [], timeline.to_json()
    assert len(timeline.parts()) == 1
    seqs = [s.seq for s in timeline.segments]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len(seqs) > notes["before"] + 8  # the outage was fetched back, then 8 s more
    leftovers = list(timeline.directory.glob("part-*/.*.tmp"))
    assert leftovers == []


def test_resume_after_the_window_records_only_the_real_gap(outcomes: dict[str, Outcome]) -> None:
    outcome = _get(outcomes, "outside")
    timeline, result = outcome.timeline, outcome.result
    assert timeline is not None and result is not None
    assert outcome.notes["first"].state == "stopped"
    assert result.state == "stopped", result.reason
    gaps = timeline.gaps()
    assert len(gaps) == 1, timeline.to_json()
    # Down ~9 s with a 4 s window: about 5 s are really gone, the rest was fetched back.
    assert 3.0 <= gaps[0].duration_s <= 8.0, gaps
    assert len(timeline.parts()) == 1
    assert "missed" in timeline.explicit_gaps[0].reason


def test_resume_after_a_reset_while_down_opens_a_new_part(outcomes: dict[str, Outcome]) -> None:
    outcome = _get(outcomes, "resetdown")
    timeline, result = outcome.timeline, outcome.result
    assert timeline is not None and result is not None
    assert result.state == "stopped", result.reason
    parts = timeline.parts()
    assert [p.reason for p in parts] == ["start", "sequence reset"], timeline.to_json()
    assert parts[1].segments[0].seq < 10
    assert parts[1].start >= parts[0].end
