"""Recording real simulated broadcasts (ffmpeg on loopback, yt-dlp's generic extractor).

The scenarios are independent streams, so one module fixture runs them all at once and the
tests below check each result: the module costs about 40 s of wall time instead of 3 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from streamer import procs
from streamer.capture.hls import Progress, RecordResult, record
from streamer.capture.timeline import Timeline
from streamer.simulate import SimulatedBroadcast
from streamer.timeutil import now
from tests.capture.conftest import ROOT, SMALL, streamer_cmd
from tests.conftest import ScriptedLive

pytestmark = pytest.mark.slow


@dataclass
class Outcome:
    result: RecordResult | None = None
    timeline: Timeline | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    source: ScriptedLive | None = None


# Waits are conditions with generous bounds: on a loaded 2-core machine a step may take long,
# but the source's timeline (ScriptedLive) never depends on how fast anything ran.
BOUND_S = 120.0


class Tracker:
    """Progress callback that lets a scenario wait for a condition on the recorder."""

    def __init__(self) -> None:
        self.last: Progress | None = None
        self._changed = asyncio.Event()

    @property
    def segments(self) -> int:
        return self.last.segments if self.last else 0

    def __call__(self, p: Progress) -> None:
        self.last = p
        self._changed.set()

    async def until(
        self, ok: Callable[[Progress], bool], what: str, timeout: float = BOUND_S
    ) -> None:
        deadline = time.monotonic() + timeout
        while self.last is None or not ok(self.last):
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"recorder never {what}: {self.last}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=left)

    async def reach(self, n: int, timeout: float = BOUND_S) -> None:
        await self.until(lambda p: p.segments >= n, f"kept {n} segments", timeout)

    async def caught_up(self, src: ScriptedLive, timeout: float = BOUND_S) -> None:
        """The recorder kept the newest segment the source has made (checked now)."""
        newest = src.newest_seq()
        await self.until(lambda p: p.last_seq == newest, f"reached seq {newest}", timeout)


def _scripted(segments: list[bytes], window: int = 10) -> ScriptedLive:
    return ScriptedLive(segments, window=window).start()


async def _broadcast(root: Path) -> SimulatedBroadcast:
    sim = SimulatedBroadcast(root / "src", window=10, **SMALL).start()
    await asyncio.to_thread(sim.wait_ready, 2, BOUND_S)
    return sim


def _made_between(src: ScriptedLive, first: int, last: int) -> list[int]:
    """The seqs the source made from ``first`` to ``last`` (inclusive), in order."""
    seqs = [seq for seq, _ in src.produced]
    return seqs[seqs.index(first) : seqs.index(last) + 1]


async def plain_20s(root: Path, segs: list[bytes]) -> Outcome:
    """20 s from now, with 30 s of backfill from a 40-segment window: the whole requested
    stretch is in the source's window however late the recorder's first poll comes."""
    src = _scripted(segs, window=40)
    called = now()
    until = called + timedelta(seconds=20)
    try:
        result = await record(src.url, root / "rec", until=until, stall_timeout_s=20, backfill_s=30)
    finally:
        src.close()
    notes = {"called": called, "until": until}
    return Outcome(result, Timeline.load(root / "rec"), notes, source=src)


async def paused_8(root: Path, segs: list[bytes]) -> Outcome:
    """The source stops for 8 segments (inside the 10-segment window), then goes on."""
    src = _scripted(segs)
    tracker, stop = Tracker(), asyncio.Event()
    try:
        task = asyncio.create_task(
            record(src.url, root / "rec", stop=stop, stall_timeout_s=60, on_progress=tracker)
        )
        await tracker.reach(5)
        await tracker.caught_up(src)
        src.pause(8)
        await asyncio.to_thread(src.wait_produced, 4, BOUND_S)
        await tracker.caught_up(src)
        stop.set()
        result = await task
    finally:
        src.close()
    return Outcome(result, Timeline.load(root / "rec"), source=src)


async def sequence_reset(root: Path, segs: list[bytes]) -> Outcome:
    src = _scripted(segs)
    tracker, stop = Tracker(), asyncio.Event()
    try:
        task = asyncio.create_task(
            record(src.url, root / "rec", stop=stop, stall_timeout_s=60, on_progress=tracker)
        )
        await tracker.reach(5)
        await tracker.caught_up(src)
        src.restart()
        await asyncio.to_thread(src.wait_produced, 4, BOUND_S)
        await tracker.caught_up(src)
        stop.set()
        result = await task
    finally:
        src.close()
    return Outcome(result, Timeline.load(root / "rec"), source=src)


async def killed_source(root: Path, segs: list[bytes]) -> Outcome:
    src = _scripted(segs)
    tracker = Tracker()
    try:
        task = asyncio.create_task(
            record(src.url, root / "rec", stall_timeout_s=10, on_progress=tracker)
        )
        await tracker.reach(4)
        killed = time.monotonic()
        src.kill()
        result = await asyncio.wait_for(task, timeout=BOUND_S)
        waited = time.monotonic() - killed
    finally:
        src.close()
    return Outcome(result, Timeline.load(root / "rec"), {"waited": waited}, source=src)


async def clean_end(root: Path, segs: list[bytes]) -> Outcome:
    """The one scenario on the real ffmpeg encoder: its ENDLIST ends the recording."""
    sim = await _broadcast(root)
    tracker = Tracker()
    try:
        task = asyncio.create_task(record(sim.url, root / "rec", on_progress=tracker))
        await tracker.reach(5)
        sim.stop()
        result = await asyncio.wait_for(task, timeout=BOUND_S)
    finally:
        sim.close()
    return Outcome(result, Timeline.load(root / "rec"))


async def resumed_after_window(root: Path, segs: list[bytes]) -> Outcome:
    """Stopped, then resumed after the 4-segment window moved on by 9 segments: a gap only
    for what is gone."""
    src = _scripted(segs, window=4)
    out = root / "rec"
    try:
        stop = asyncio.Event()
        tracker = Tracker()
        task = asyncio.create_task(record(src.url, out, stop=stop, on_progress=tracker))
        await tracker.reach(4)
        stop.set()
        first = await task
        await asyncio.to_thread(src.wait_produced, 9, BOUND_S)
        served_before = len(src.served)
        stop, tracker = asyncio.Event(), Tracker()
        task = asyncio.create_task(record(src.url, out, stop=stop, on_progress=tracker))
        await tracker.reach(3)
        stop.set()
        second = await task
    finally:
        src.close()
    notes = {"first": first, "served_before": served_before}
    return Outcome(second, Timeline.load(out), notes, source=src)


async def resumed_after_reset(root: Path, segs: list[bytes]) -> Outcome:
    """The source reset its numbering while the recorder was down: a new part on resume."""
    src = _scripted(segs)
    out = root / "rec"

    async def until_segments(n: int) -> RecordResult:
        stop, tracker = asyncio.Event(), Tracker()
        task = asyncio.create_task(record(src.url, out, stop=stop, on_progress=tracker))
        await tracker.reach(n)
        stop.set()
        return await task

    try:
        first = await until_segments(4)
        src.restart()
        await asyncio.to_thread(src.wait_produced, 3, BOUND_S)
        second = await until_segments(3)
    finally:
        src.close()
    return Outcome(second, Timeline.load(out), {"first": first}, source=src)


def _seg_rows(directory: Path) -> int:
    try:
        text = (directory / "timeline.jsonl").read_text()
    except FileNotFoundError:
        return 0
    return text.count('"t": "seg"')


def _killed_recorder(root: Path, segs: list[bytes]) -> Outcome:
    """`streamer record` SIGKILLed mid-stream, then restarted while the source made 4
    segments: well inside its 120-segment window, however slow the restart is (starting the
    CLI took over 30 s on the loaded machine)."""
    src = _scripted(segs, window=120)
    out = root / "rec"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    notes: dict[str, Any] = {}
    try:
        first = procs.spawn(
            streamer_cmd("record", src.url, "--out", str(out), "--stall-timeout", "60"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=str(ROOT),
        )
        deadline = time.monotonic() + BOUND_S
        while _seg_rows(out) < 5 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait()
        notes["before"] = _seg_rows(out)
        src.wait_produced(4, BOUND_S)  # the outage, counted in source segments
        # runs until it holds the outage and 8 segments more, then a clean stop (SIGTERM):
        # counted in segments, as a --duration would count the CLI's slow start on a loaded
        # machine
        second = subprocess.Popen(
            streamer_cmd("record", src.url, "--out", str(out)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=env,
        )
        deadline = time.monotonic() + BOUND_S
        while _seg_rows(out) < notes["before"] + 4 + 8 and time.monotonic() < deadline:
            if second.poll() is not None:
                break
            time.sleep(0.2)
        second.terminate()
        stdout, stderr = second.communicate(timeout=BOUND_S)
        notes["rc"] = second.returncode
        notes["stdout"] = stdout
        notes["stderr"] = stderr[-2000:]
    finally:
        src.close()
    return Outcome(None, Timeline.load(out), notes, source=src)


async def killed_recorder(root: Path, segs: list[bytes]) -> Outcome:
    return await asyncio.to_thread(_killed_recorder, root, segs)


SCENARIOS: dict[str, Callable[[Path, list[bytes]], Awaitable[Outcome]]] = {
    "plain": plain_20s,
    "paused": paused_8,
    "reset": sequence_reset,
    "killed": killed_source,
    "ended": clean_end,
    "crash": killed_recorder,
    "outside": resumed_after_window,
    "resetdown": resumed_after_reset,
}


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory, live_segments: list[bytes]
) -> dict[str, Outcome]:
    async def one(name: str, fn: Callable[[Path, list[bytes]], Awaitable[Outcome]]) -> Outcome:
        try:
            return await fn(tmp_path_factory.mktemp(name), live_segments)
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
    assert report["state"] == "stopped"
    # Everything the source made over the requested 20 s was kept, and nothing else: judged
    # by the source's own timeline, not by how fast the machine ran.
    src, called, until = outcome.source, outcome.notes["called"], outcome.notes["until"]
    assert src is not None
    seqs = [s.seq for s in timeline.segments]
    assert seqs == _made_between(src, seqs[0], seqs[-1])
    assert timeline.segments[0].start <= called, report  # from before the call (backfill)
    last = timeline.segments[-1]
    half = timedelta(seconds=last.duration / 2)
    assert last.start + half < until <= last.end + half  # the segment straddling the end
    assert report["covered_s"] == pytest.approx(len(seqs) * src.segment_s)
    assert report["covered_s"] >= 20.0, report
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
    # The source skipped exactly 8 one-second segments: the gap is those, by construction.
    assert gaps[0].duration_s == pytest.approx(8.0), gaps
    assert "missed" in timeline.explicit_gaps[0].reason
    assert result.gaps == 1
    assert len(timeline.parts()) == 1
    # Recording went on after the pause, and nothing the source made was lost.
    assert timeline.end is not None and timeline.end > gaps[0].end
    assert sum(1 for s in timeline.segments if s.start >= gaps[0].end) >= 4
    src = outcome.source
    assert src is not None
    seqs = [s.seq for s in timeline.segments]
    assert seqs == _made_between(src, seqs[0], seqs[-1])


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
    assert len(parts[1].segments) >= 4
    assert (parts[1].start - parts[0].end).total_seconds() < 3.5
    # the old numbering's segments up to the reset, then the new one's: none lost
    src = outcome.source
    assert src is not None
    for part in parts:
        seqs = [s.seq for s in part.segments]
        assert seqs == _made_between(src, seqs[0], seqs[-1]), seqs


def test_killed_source_stalls_within_limit_and_keeps_data(outcomes: dict[str, Outcome]) -> None:
    outcome = _get(outcomes, "killed")
    timeline, result = outcome.timeline, outcome.result
    assert timeline is not None and result is not None
    assert result.state == "stalled", result.reason
    assert "no new segment" in result.reason
    # the stall timeout is 10 s of the recorder's (real) clock, so at least that passed; how
    # much more depends on the machine's load, and the scenario's BOUND_S already caps a hang
    assert outcome.notes["waited"] >= 8.0, outcome.notes
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
    src = outcome.source
    assert src is not None
    assert seqs == _made_between(src, seqs[0], seqs[-1])
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
    assert len(timeline.parts()) == 1
    assert "missed" in timeline.explicit_gaps[0].reason
    # Down for 9 source segments with a 4-segment window: at least 5 are really gone; the
    # resumed part starts at the oldest segment a playlist still listed (fetched back).
    src = outcome.source
    assert src is not None
    assert gaps[0].duration_s >= 5.0, gaps
    seqs = [s.seq for s in timeline.segments]
    jumps = [(a, b) for a, b in itertools.pairwise(seqs) if b != a + 1]
    assert len(jumps) == 1, seqs
    last_kept, resumed = jumps[0]
    assert gaps[0].duration_s == pytest.approx((resumed - last_kept - 1) * src.segment_s)
    oldest = [listed[0] for listed in src.served[outcome.notes["served_before"] :] if listed]
    assert resumed in oldest, (resumed, oldest)


def test_resume_after_a_reset_while_down_opens_a_new_part(outcomes: dict[str, Outcome]) -> None:
    outcome = _get(outcomes, "resetdown")
    timeline, result = outcome.timeline, outcome.result
    assert timeline is not None and result is not None
    assert result.state == "stopped", result.reason
    parts = timeline.parts()
    assert [p.reason for p in parts] == ["start", "sequence reset"], timeline.to_json()
    assert parts[1].segments[0].seq < 10
    assert parts[1].start >= parts[0].end
