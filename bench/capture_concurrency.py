"""How many concurrent 720p live streams one recorder process keeps with no missed segment.

    .venv/bin/python bench/capture_concurrency.py [--levels 25,50,75,100] [--duration 30]
        [--runs 3] [--baseline]

The source (``--source origin``, the default) is ``bench/hls_origin.py`` in a process of its
own: N live playlists of pre-encoded segments (1280x720, 25 fps, ~2.5 Mb/s CBR + 128 kb/s AAC,
1 s segments) in a ``--window`` of 30 segments (YouTube's live playlists hold ~30 s), served
from memory by one asyncio process whose CPU is counted apart. ``--source simulate`` is the
older ``streamer simulate --replay`` (threaded Python servers, 50 streams each, 10-segment
window). At each level, one Python process runs N ``record()`` calls in one event loop
(started 50 ms apart, as a scheduler would) until a common end ``--duration`` seconds after a
start-up allowance of 0.25 s per stream.

Missed, precisely: a segment the source listed while the stream was being recorded (from the
first segment the stream kept, or its start if it kept none, to the common end) that is not
in the stream's timeline. A level passes when every run misses nothing; the figure is the
highest level that passes. Each run also reports the event loop's lag (a 50 ms ticker's
lateness, p99 and max) and CPU-s per stream-minute in the steady window.

``--baseline`` runs the same levels with N ``ffmpeg -i URL -c copy -f segment`` processes
(a miss is ffmpeg's "skipping ... segments ahead, expired from playlists" warning).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from baseline import ffmpeg_segment_args  # noqa: E402

from streamer.capture.hls import record  # noqa: E402
from streamer.capture.timeline import Timeline  # noqa: E402
from streamer.config import Settings  # noqa: E402
from streamer.simulate.replay import ReplayServer  # noqa: E402
from streamer.timeutil import now  # noqa: E402
from streamer.youtube import BroadcastInfo, Resolver, ResolverLike  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "capture"
# the sources are on 127.0.0.1: opt in to non-public addresses (the SSRF policy refuses them)
os.environ.setdefault("STREAMER_ALLOW_PRIVATE_SOURCES", "true")
CPU_PER_MIN: dict[str, list[float]] = {}
PER_SOURCE = 50
RAMP_S = 0.25  # start-up allowance per stream before the measured duration
STEADY: list[float] = []  # CPU-s per stream-minute of each run, in order
LAGS: list[tuple[float, float]] = []  # (p99, max) event loop lag of each run, seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_source(streams: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamer",
            "simulate",
            "--replay",
            str(streams),
            "--size",
            "1280x720",
            "--port",
            str(port),
            "--window",
            "10",
            "--out",
            str(CACHE),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600  # the first run encodes the replay segments
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.5)
    raise SystemExit("replay source did not start")


SEGMENT_S = 1.0


def missed(directory: Path, began: float, until: float) -> tuple[int, int]:
    """(segments kept, segments missed) of one recording: every segment the source listed
    from the first kept one (else from ``began``) whose middle lies before ``until`` (the
    recorder keeps those, see ``Poller._take``) and that the timeline lacks. The source numbers
    segments by wall-clock second, so its sequence numbers are known without asking it."""
    timeline = Timeline.load(directory)
    kept = {s.seq for s in timeline.segments}
    first = min(kept) if kept else math.floor(began / SEGMENT_S)
    last = math.ceil(until / SEGMENT_S - 0.5) - 1  # the last whose midpoint is before until
    expected = set(range(first, last + 1))
    return len(kept), len(expected - kept)


class Origin:
    """``bench/hls_origin.py``: every stream from one cheap process (its CPU apart)."""

    def __init__(self, streams: int, window: int) -> None:
        replay = ReplayServer(CACHE, streams=1, width=1280, height=720, count=10)
        replay.prepare()  # encoded once, kept in the cache
        port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "hls_origin.py"),
                str(replay.source_dir),
                "--streams",
                str(streams),
                "--port",
                str(port),
                "--window",
                str(window),
            ],
            stdout=subprocess.DEVNULL,
        )
        self.started = [(self.proc, f"http://127.0.0.1:{port}")]
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("origin did not start")

    def url(self, i: int) -> str:
        return f"{self.base}/s{i}/live.m3u8"

    cpu = property(lambda self: _cpu(self.started))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def _cpu(started: list[tuple[subprocess.Popen[bytes], str]]) -> float:
    total = 0.0
    for proc, _ in started:
        try:
            stat = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Sources:
    """The replay sources: one process per ``PER_SOURCE`` streams, so the simulated origin
    (a Python HTTP server) is not what runs out of CPU first."""

    def __init__(self, streams: int) -> None:
        self.started = [
            start_source(min(PER_SOURCE, streams - i)) for i in range(0, streams, PER_SOURCE)
        ]

    def url(self, i: int) -> str:
        return f"{self.started[i // PER_SOURCE][1]}/s{i % PER_SOURCE}/live.m3u8"

    cpu = property(lambda self: _cpu(self.started))

    def close(self) -> None:
        for proc, _ in self.started:
            proc.terminate()
        for proc, _ in self.started:
            proc.wait()


class DirectResolver:
    """The origin's URLs are plain HLS media playlists: nothing to resolve. (yt-dlp's generic
    extractor costs 0.1-0.3 CPU-s per stream; a service pays it once per broadcast, spread
    over the day, where the bench would pay it for every stream in the same minute.)"""

    def resolve(self, url: str) -> BroadcastInfo:
        return BroadcastInfo(url, "live", None, "is_live", manifest_url=url)


RESOLVER: list[str] = ["direct"]


async def loop_lag(lags: list[float], every: float = 0.05) -> None:
    """How late a 50 ms ticker wakes: the event loop's stalls, as every recording feels them."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every
        await asyncio.sleep(every)
        lags.append(max(0.0, loop.time() - due))


def p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))] if values else 0.0


async def ours_level(
    src: Sources | Origin, n: int, duration: float, work: Path
) -> tuple[int, int, float]:
    resolver: ResolverLike = (
        DirectResolver() if RESOLVER[0] == "direct" else Resolver(Settings(_env_file=None))  # type: ignore[call-arg]
    )
    # Everyone records until the same end, ``duration`` after the last one could have started
    # (yt-dlp resolving costs ~0.1-0.3 CPU-s per stream at start).
    started = now()
    until = started + timedelta(seconds=n * RAMP_S + duration)
    cpu0, wall0 = time.process_time(), time.monotonic()

    states: dict[str, int] = {}

    def kept_now() -> float:
        # segment files written so far (cheap enough once per sample)
        return float(sum(1 for _ in work.glob("s*/part-*/*.ts")))

    async def one(i: int) -> None:
        await asyncio.sleep(i * 0.05)
        result = await record(
            src.url(i),
            work / f"s{i}",
            resolver=resolver,
            until=until,
            stall_timeout_s=30,
        )
        key = f"{result.state}: {result.reason[:60]}"
        states[key] = states.get(key, 0) + 1

    steady: dict[str, float] = {}

    async def sample() -> None:
        # steady state: from when every stream has started to shortly before the common end
        ramp_end = n * RAMP_S + 5.0
        await asyncio.sleep(ramp_end)
        steady["cpu0"], steady["wall0"] = time.process_time(), time.monotonic()
        steady["src0"], steady["seg0"] = src.cpu, kept_now()
        await asyncio.sleep(max(1.0, duration - 8.0))
        steady["cpu1"], steady["wall1"] = time.process_time(), time.monotonic()
        steady["src1"], steady["seg1"] = src.cpu, kept_now()

    lags: list[float] = []
    ticker = asyncio.ensure_future(loop_lag(lags))
    await asyncio.gather(sample(), *(one(i) for i in range(n)))
    ticker.cancel()
    LAGS.append((p99(lags), max(lags, default=0.0)))
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    steady_cpu = steady["cpu1"] - steady["cpu0"]
    segments = max(1, steady["seg1"] - steady["seg0"])
    # CPU-s per stream-minute = per 60 kept 1 s segments (a missed one costs no work)
    STEADY.append(steady_cpu / segments * 60)
    span = steady["wall1"] - steady["wall0"]
    print(
        f"  steady window {span:.0f} s: {segments:.0f} segments kept, ours "
        f"{steady_cpu / span:.2f} CPUs, the sources {(steady['src1'] - steady['src0']) / span:.2f}"
        f" CPUs, load average {os.getloadavg()[0]:.1f}; loop lag p99 {LAGS[-1][0] * 1000:.0f} ms,"
        f" max {LAGS[-1][1] * 1000:.0f} ms",
        flush=True,
    )
    kept = lost = 0
    where: list[str] = []
    for i in range(n):
        k, m = missed(work / f"s{i}", started.timestamp() + i * 0.05, until.timestamp())
        kept, lost = kept + k, lost + m
        if m:
            gaps = Timeline.load(work / f"s{i}").gaps()
            where += [f"s{i} {m} missed"] + [
                f"s{i} +{(g.start - started).total_seconds():.0f}s {g.duration_s:.0f}s"
                for g in gaps
            ]
    if where:
        print(f"  missed (gaps since the first start): {', '.join(where[:12])}; {states}")
    return kept, lost, cpu / wall


def ffmpeg_level(
    src: Sources | Origin, n: int, duration: float, work: Path
) -> tuple[int, int, float]:
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    for i in range(n):
        out = work / f"f{i}"
        out.mkdir(parents=True)
        log = out / "stderr.txt"
        with log.open("wb") as fh:
            procs.append(
                (
                    subprocess.Popen(
                        ffmpeg_segment_args(src.url(i), out, duration, loglevel="warning"),
                        stdout=subprocess.DEVNULL,
                        stderr=fh,
                    ),
                    log,
                )
            )
        time.sleep(0.05)
    cpu = 0.0
    t0 = time.monotonic()
    for proc, _ in procs:
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        cpu += usage.ru_utime + usage.ru_stime
    wall = time.monotonic() - t0 + n * 0.05
    STEADY.append(cpu / (n * duration) * 60)  # start-up included: ffmpeg's is small
    kept = lost = 0
    for _, log in procs:
        kept += len(list(log.parent.glob("*.ts")))
        lost += log.read_text(errors="replace").count("expired from playlist")
    return kept, lost, cpu / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="25,50,75,100")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--keep-going", action="store_true", help="try every level")
    parser.add_argument("--source", choices=["origin", "simulate"], default="origin")
    parser.add_argument("--window", type=int, default=30, help="segments (origin only)")
    parser.add_argument(
        "--resolver", choices=["direct", "ytdlp"], default="direct", help="see DirectResolver"
    )
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    RESOLVER[0] = args.resolver
    # one warning per lost segment would flood the output; the summary counts them
    logging.basicConfig(level=logging.ERROR)
    CACHE.mkdir(parents=True, exist_ok=True)
    source: Sources | Origin = (
        Origin(max(levels), args.window) if args.source == "origin" else Sources(max(levels))
    )
    best = {"ours": 0, "ffmpeg": 0}
    try:
        kinds = ["ours", "ffmpeg"] if args.baseline else ["ours"]
        for kind in kinds:
            for n in levels:
                lost_runs, loads = [], []
                for run in range(args.runs):
                    work = Path(tempfile.mkdtemp(prefix=f"capture-conc-{kind}-"))
                    try:
                        if kind == "ours":
                            kept, lost, load = asyncio.run(
                                ours_level(source, n, args.duration, work)
                            )
                        else:
                            kept, lost, load = ffmpeg_level(source, n, args.duration, work)
                    finally:
                        shutil.rmtree(work, ignore_errors=True)
                    lost_runs.append(lost)
                    loads.append(load)
                    per_min = STEADY[-1]
                    CPU_PER_MIN.setdefault(kind, []).append(per_min)
                    print(
                        f"{kind:6s} {n:4d} streams, run {run + 1}: {kept} segments kept, "
                        f"{lost} missed, {load:.2f} CPUs busy, {per_min:.3f} CPU-s per "
                        f"stream-minute{' (steady)' if kind == 'ours' else ''}"
                        + (f", loop lag p99 {LAGS[-1][0] * 1000:.0f} ms" if kind == "ours" else "")
                        + "; "
                        f"load average {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
                    if lost:
                        break
                if any(lost_runs) and not args.keep_going:
                    break
                if any(lost_runs):
                    continue
                best[kind] = n
                print(
                    f"{kind:6s} {n:4d} streams: no missed segment "
                    f"(median {statistics.median(loads):.2f} CPUs)",
                    flush=True,
                )
    finally:
        source.close()
    print()
    print(
        f"streamer, one process : {best['ours']} concurrent 720p streams with no missed "
        f"segment (goal >= 300; levels tried {levels})"
    )
    if args.baseline:
        ratio = best["ours"] / best["ffmpeg"] if best["ffmpeg"] else float("inf")
        print(f"ffmpeg, one per stream: {best['ffmpeg']} streams = ratio {ratio:.2f}x")
    # CPU time does not depend on how busy the machine is the way wall time does: what one
    # core (the event loop's, which holds the GIL) would carry at the measured cost
    for kind, values in CPU_PER_MIN.items():
        med = statistics.median(values)
        print(
            f"{kind:6s} CPU per stream-minute, median of {len(values)} runs: {med:.3f} CPU-s"
            + (f" = {60 / med:.0f} streams per CPU-second budget" if med else "")
        )
    if "ours" in CPU_PER_MIN and "ffmpeg" in CPU_PER_MIN:
        ours_m = statistics.median(CPU_PER_MIN["ours"])
        ff_m = statistics.median(CPU_PER_MIN["ffmpeg"])
        print(f"ours / ffmpeg CPU per stream-minute: {ours_m / ff_m:.2f}x")


if __name__ == "__main__":
    main()
