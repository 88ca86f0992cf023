"""Heal speed: content-minutes healed per wall-minute while the same process records live.

    .venv/bin/python bench/backfill_bench.py [--history 480] [--size 426x240] [--fps 25]
        [--resolver ytdlp|simulated] [--heal-every 10] [--forget 5] [--steady 30] [--runs 3]

The YouTube-shaped media simulator (``streamer.simulate.youtube_media``) serves a broadcast
that began ``--history`` seconds ago (2 s fragments, 30 s HLS window), behind the loopback
YouTube site that real yt-dlp parses (``--resolver ytdlp``, the default; ``simulated`` skips
yt-dlp). ``--forget`` fragments in the middle are gone from the DVR, so a gap remains and
the heals go on. One process runs ``record_with_backfill(from_start=True)``: the HLS poller
follows the live edge while the heal fetches the DVR's fragments (6 at once, paced) and
stream-copies them into TS segments. Measured:

* until the timeline covers the broadcast from its start (less the lost fragments): speed,
  healed content seconds / wall seconds (goal >= 20x), and the live-edge gaps the recorder
  wrote meanwhile (goal 0); CPU per healed content-minute (this process + its ffmpeg
  children, less what the in-process simulator's server threads spent), against a bare
  ffmpeg stream-copy mux of the same fragments (init + fragments concatenated, one
  ``-f segment`` run); yt-dlp extracts;
* then ``--steady`` seconds more of live recording with the lost gap left: CPU and yt-dlp
  extracts per minute (what a recording pays while a gap cannot be filled).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer import procs  # noqa: E402
from streamer.capture.backfill import record_with_backfill  # noqa: E402
from streamer.capture.heal import HealReport  # noqa: E402
from streamer.capture.hls import Progress  # noqa: E402
from streamer.capture.timeline import Timeline  # noqa: E402
from streamer.config import Settings  # noqa: E402
from streamer.netguard import Policy  # noqa: E402
from streamer.simulate.youtube_info import SimulatedResolver, site_video  # noqa: E402
from streamer.simulate.youtube_media import Content, YouTubeMedia, prepare  # noqa: E402
from streamer.simulate.youtube_site import YouTubeSite  # noqa: E402
from streamer.youtube import Resolver, ResolverOptions  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "backfill"
URL = "https://www.youtube.com/watch?v=simLive0001"


class Timed:
    """The resolver, adding up the CPU its yt-dlp runs take (each runs in one thread)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cpu_s = 0.0

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        started = time.thread_time()
        try:
            info: dict[str, Any] = self.inner.extract(url, live_from_start=live_from_start)
            return info
        finally:
            self.cpu_s += time.thread_time() - started

    def resolve(self, url: str) -> Any:
        started = time.thread_time()
        try:
            return self.inner.resolve(url)
        finally:
            self.cpu_s += time.thread_time() - started


def children_cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Extracts:
    """How many times the broadcast was extracted (yt-dlp runs, or simulated ones)."""

    def __init__(self, site: YouTubeSite | None, simulated: SimulatedResolver | None) -> None:
        self.site = site
        self.simulated = simulated

    def __call__(self) -> int:
        if self.site is not None:
            return int(self.site.requests["watch"])
        assert self.simulated is not None
        return self.simulated.calls


async def run_ours(
    media: YouTubeMedia,
    out: Path,
    resolver: Any,
    extracts: Extracts,
    *,
    history: float,
    forget: int,
    heal_every: float,
    steady: float,
) -> dict[str, float]:
    stop = asyncio.Event()
    target = history - 4 - forget * media.segment_s
    state = {"done_at": 0.0, "healed": 0.0, "extracts": 0.0, "cpu": 0.0, "kids": 0.0, "yt": 0.0}
    timed = Timed(resolver)
    started = time.monotonic()
    cpu0 = cpu() - media.serve_cpu_s  # the simulator serves from this process: not ours
    kids0 = children_cpu()
    extracts0 = extracts()

    def on_heal(report: HealReport) -> None:
        state["healed"] += report.by_source.get("dvr", 0.0)
        if state["done_at"] == 0.0 and state["healed"] >= target:
            state["done_at"] = time.monotonic()
            state["cpu"] = cpu() - media.serve_cpu_s
            state["kids"] = children_cpu() - kids0
            state["yt"] = timed.cpu_s
            state["extracts"] = extracts()

    def on_progress(p: Progress) -> None:
        # after the heal: keep recording for `steady` seconds (a gap may remain)
        if state["done_at"] and time.monotonic() - state["done_at"] >= steady:
            stop.set()

    result = await record_with_backfill(
        URL,
        out,
        resolver=timed,
        settings=Settings(allow_private_sources=True),  # the simulator is on 127.0.0.1
        from_start=True,
        heal_every_s=heal_every,
        on_heal=on_heal,
        stop=stop,
        on_progress=on_progress,
    )
    ended = time.monotonic()
    cpu_end = cpu() - media.serve_cpu_s
    extracts_end = extracts()
    timeline = Timeline.load(out)
    live = [s for s in timeline.segments if s.src == "live"]
    seqs = [s.seq for s in live]
    if not seqs:
        raise SystemExit(f"no live segment recorded: {result.record.state} {result.record.reason}")
    return {
        "wall_s": state["done_at"] - started,
        "cpu_s": state["cpu"] - cpu0,
        "ffmpeg_cpu_s": state["kids"],
        "ytdlp_cpu_s": state["yt"],
        "extracts": state["extracts"] - extracts0,
        "steady_wall_s": ended - state["done_at"],
        "steady_cpu_s": cpu_end - state["cpu"],
        "steady_extracts": extracts_end - state["extracts"],
        "healed_s": timeline.provenance()["dvr"],
        "live_s": timeline.provenance()["live"],
        "live_gaps": float(
            result.record.gaps + (seqs != list(range(seqs[0], seqs[0] + len(seqs))))
        ),
        "gaps_left": float(len(timeline.gaps())),
    }


def one_run(content: Content, args: argparse.Namespace) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="backfill-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            media = stack.enter_context(
                YouTubeMedia(content, started_at=time.time() - args.history)
            )
            if args.forget:  # a stretch the DVR no longer holds: a gap stays, heals go on
                middle = round(args.history / content.segment_s / 2)
                media.forget(middle, middle + args.forget - 1)
            site: YouTubeSite | None = None
            simulated: SimulatedResolver | None = None
            resolver: Any
            if args.resolver == "ytdlp":
                site = stack.enter_context(YouTubeSite())
                site.add(site_video(media))
                loopback = Policy(allow_private=True)
                resolver = Resolver(
                    ResolverOptions(policy=loopback), ydl_class=site.ydl_class(policy=loopback)
                )
            else:
                resolver = simulated = SimulatedResolver(media)
            ours = asyncio.run(
                run_ours(
                    media,
                    work / "rec",
                    resolver,
                    Extracts(site, simulated),
                    history=args.history,
                    forget=args.forget,
                    heal_every=args.heal_every,
                    steady=args.steady,
                )
            )
        ours["base_cpu_s"] = run_baseline(content, round(ours["healed_s"] / 2), work)
        return ours
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
    parser.add_argument(
        "--resolver",
        choices=("ytdlp", "simulated"),
        default="ytdlp",
        help="real yt-dlp on the loopback YouTube site, or simulated info dicts",
    )
    parser.add_argument("--heal-every", type=float, default=10.0, help="as record's default")
    parser.add_argument("--forget", type=int, default=5, help="fragments the DVR lost")
    parser.add_argument("--steady", type=float, default=30.0, help="seconds after the heal")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    content = prepare(
        CACHE,
        duration_s=args.history + args.steady + 120,  # per run: each starts its own
        segment_s=2.0,
        width=width,
        height=height,
        fps=args.fps,
    )
    runs = [one_run(content, args) for _ in range(args.runs)]
    for i, r in enumerate(runs, 1):
        print(
            f"run {i}: healed {r['healed_s']:.0f}s in {r['wall_s']:.1f}s "
            f"({r['healed_s'] / r['wall_s']:.1f}x), CPU {r['cpu_s']:.2f}s (ffmpeg "
            f"{r['ffmpeg_cpu_s']:.2f}s, yt-dlp {r['ytdlp_cpu_s']:.2f}s) vs bare mux "
            f"{r['base_cpu_s']:.2f}s, {r['extracts']:.0f} extracts; then "
            f"{r['steady_wall_s']:.0f}s with a gap left: CPU {r['steady_cpu_s']:.2f}s, "
            f"{r['steady_extracts']:.0f} extracts; live-edge gaps {r['live_gaps']:.0f}"
        )

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    minutes = med("healed_s") / 60
    print(
        f"content {width}x{height} {args.fps} fps, 2 s fragments, resolver {args.resolver}, "
        f"heal every {args.heal_every:g}s, {args.forget} fragments lost; median of {args.runs}"
    )
    print(f"speed: {statistics.median(r['healed_s'] / r['wall_s'] for r in runs):.1f}x real "
          f"time (goal >= 20x)")  # fmt: skip
    print(f"live-edge gaps during the heal: {max(r['live_gaps'] for r in runs):.0f} (goal 0)")
    print(
        f"CPU per healed minute: ours {med('cpu_s') / minutes:.2f}s (process + ffmpeg, live "
        f"recording and yt-dlp included), bare ffmpeg mux {med('base_cpu_s') / minutes:.2f}s, "
        f"ratio {statistics.median(r['cpu_s'] / max(r['base_cpu_s'], 1e-9) for r in runs):.1f}x"
    )
    print(
        f"  of which ffmpeg/ffprobe children {med('ffmpeg_cpu_s') / minutes:.2f}s, yt-dlp "
        f"(import + extracts, in their threads) {med('ytdlp_cpu_s') / minutes:.2f}s"
    )
    steady_min = med("steady_wall_s") / 60
    print(
        f"while a gap remains: {med('steady_cpu_s') / steady_min:.2f} CPU-s per minute, "
        f"{med('steady_extracts') / steady_min:.1f} extracts per minute"
    )


if __name__ == "__main__":
    main()
