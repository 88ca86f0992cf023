"""Heal speed: content-minutes healed per wall-minute while the same process records live.

    .venv/bin/python bench/backfill_bench.py [--history 480] [--size 426x240] [--fps 25]

The YouTube-shaped media simulator (``streamer.simulate.youtube_media``) serves a broadcast
that began ``--history`` seconds ago (2 s fragments, 30 s HLS window). One process runs
``record_with_backfill(from_start=True)``: the HLS poller follows the live edge while the
heal fetches the DVR's fragments (4 at once, paced) and stream-copies them into TS segments.
Measured until the timeline covers the broadcast from its start:

* speed: healed content seconds / wall seconds (goal >= 20x), and the live-edge gaps the
  recorder wrote meanwhile (goal 0);
* CPU per healed content-minute (this process + its ffmpeg children), against a bare ffmpeg
  stream-copy mux of the same fragments (init + fragments concatenated, one
  ``-f segment`` run).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer import procs  # noqa: E402
from streamer.capture.backfill import record_with_backfill  # noqa: E402
from streamer.capture.hls import Progress  # noqa: E402
from streamer.capture.timeline import Timeline  # noqa: E402
from streamer.simulate.youtube_info import SimulatedResolver  # noqa: E402
from streamer.simulate.youtube_media import Content, YouTubeMedia, prepare  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "backfill"
URL = "https://www.youtube.com/watch?v=simLive0001"


def cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


async def run_ours(media: YouTubeMedia, out: Path, history: float) -> dict[str, float]:
    stop = asyncio.Event()
    state = {"done_at": 0.0, "live_after": 0}
    started = time.monotonic()
    cpu0 = cpu()
    cpu_done = 0.0

    def on_heal(_report: object) -> None:
        nonlocal cpu_done
        if state["done_at"] == 0.0 and Timeline.load(out).provenance()["dvr"] >= history - 4:
            state["done_at"] = time.monotonic()
            cpu_done = cpu()

    def on_progress(p: Progress) -> None:
        # a few more live segments after the heal finished, then stop
        if state["done_at"]:
            state["live_after"] += 1
            if state["live_after"] >= 6:
                stop.set()

    result = await record_with_backfill(
        URL,
        out,
        resolver=SimulatedResolver(media),
        from_start=True,
        heal_every_s=0.5,
        on_heal=on_heal,
        stop=stop,
        on_progress=on_progress,
    )
    timeline = Timeline.load(out)
    live = [s for s in timeline.segments if s.src == "live"]
    seqs = [s.seq for s in live]
    return {
        "wall_s": state["done_at"] - started,
        "cpu_s": cpu_done - cpu0,
        "healed_s": timeline.provenance()["dvr"],
        "live_s": timeline.provenance()["live"],
        "live_gaps": float(
            result.record.gaps + (seqs != list(range(seqs[0], seqs[0] + len(seqs))))
        ),
        "gaps_left": float(len(timeline.gaps())),
    }


def run_baseline(content: Content, count: int, work: Path) -> float:
    """CPU seconds of one bare ffmpeg mux of fragments 0..count-1 into 2 s TS segments."""
    for kind in ("v", "a"):
        with (work / f"{kind}.mp4").open("wb") as fh:
            fh.write(content.init(kind).read_bytes())
            for k in range(count):
                fh.write(content.fragment(kind, k).read_bytes())
    (work / "out").mkdir()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            procs.ffmpeg(),
            "-v",
            "error",
            "-y",
            "-i",
            str(work / "v.mp4"),
            "-i",
            str(work / "a.mp4"),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c",
            "copy",
            "-f",
            "segment",
            "-segment_format",
            "mpegts",
            "-segment_time",
            f"{content.segment_s:g}",
            str(work / "out" / "%06d.ts"),
        ],
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=float, default=480.0, help="seconds to heal")
    parser.add_argument("--size", default="426x240")
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    content = prepare(
        CACHE,
        duration_s=args.history + 120,
        segment_s=2.0,
        width=width,
        height=height,
        fps=args.fps,
    )
    work = Path(tempfile.mkdtemp(prefix="backfill-bench-"))
    try:
        with YouTubeMedia(content, started_at=time.time() - args.history) as media:
            ours = asyncio.run(run_ours(media, work / "rec", args.history))
        base_cpu = run_baseline(content, round(ours["healed_s"] / 2), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    minutes = ours["healed_s"] / 60
    speed = ours["healed_s"] / ours["wall_s"]
    print(
        f"content {width}x{height} {args.fps} fps, 2 s fragments; healed {ours['healed_s']:.0f}s "
        f"in {ours['wall_s']:.1f}s wall while recording {ours['live_s']:.0f}s live"
    )
    print(f"speed: {speed:.1f}x real time (goal >= 20x)")
    print(
        f"live-edge gaps during the heal: {ours['live_gaps']:.0f} (goal 0); "
        f"gaps left: {ours['gaps_left']:.0f}"
    )
    print(
        f"CPU per healed minute: ours {ours['cpu_s'] / minutes:.2f}s (process + ffmpeg, "
        f"live recording included), bare ffmpeg mux {base_cpu / minutes:.2f}s, "
        f"ratio {ours['cpu_s'] / max(base_cpu, 1e-9):.1f}x"
    )


if __name__ == "__main__":
    main()
