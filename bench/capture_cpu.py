"""CPU seconds per stream-minute: our recorder against bare ``ffmpeg -c copy -f segment``.

    .venv/bin/python bench/capture_cpu.py [--runs 3] [--duration 60]

The source is a replay stream (1280x720, 25 fps, ~2.5 Mb/s CBR + AAC, 1 s segments, no
encoding while serving) in its own process (``streamer simulate --replay 1``). Each run
records the same stream at the same time with both, as child processes, and reads each
child's CPU time (user + sys) from ``wait4``:

* ours: ``streamer record URL --out DIR --duration D`` (the whole process: Python start-up,
  yt-dlp resolving, polling, fsynced writes);
* baseline: ``ffmpeg -i URL -c copy -f segment -segment_time 1 -t D DIR/%06d.ts``.

Also shown: our steady state, the marginal cost per extra stream-minute between that run and
a ``--duration 1`` run (Python start-up and yt-dlp resolving are paid once per recording).
Prints medians and the ratio ours/ffmpeg (goal <= 1.5). ``--tree DIR`` runs ``streamer`` from
another checkout (e.g. the previous commit) with the same source and script, for a
before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("CAPTURE_BENCH_TREE", str(ROOT)))
sys.path.insert(0, str(ROOT / "bench"))

from baseline import ffmpeg_segment_args  # noqa: E402

from streamer.capture.timeline import Timeline  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "capture"
# the sources are on 127.0.0.1: opt in to non-public addresses (the SSRF policy refuses them)
os.environ.setdefault("STREAMER_ALLOW_PRIVATE_SOURCES", "true")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_cpu(proc: subprocess.Popen[bytes]) -> float:
    """Reap a child and return its CPU seconds (user + sys)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def start_source() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamer",
            "simulate",
            "--replay",
            "1",
            "--size",
            "1280x720",
            "--port",
            str(port),
            "--window",
            "8",
            "--out",
            str(CACHE),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/s0/live.m3u8"
    deadline = time.monotonic() + 600  # the first run encodes the replay segments
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.5)
    raise SystemExit("replay source did not start")


def ours(url: str, out: Path, duration: float, tree: Path = ROOT) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamer",
            "record",
            url,
            "--out",
            str(out),
            "--duration",
            str(duration),
        ],
        cwd=tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def steady_child(url: str, out: Path, duration: float) -> None:
    """In a child process: record like ``streamer record`` does (the same resolver and
    settings), and print this process's CPU time (all threads) between its 3rd and last
    kept segment, so the start-up (Python, imports, the yt-dlp resolve) is left out."""
    import asyncio
    import json

    from streamer.capture.hls import record
    from streamer.config import Settings

    marks: dict[str, tuple[float, int]] = {}

    def on_progress(p: Any) -> None:
        if p.segments >= 3:
            marks.setdefault("first", (time.process_time(), p.segments))
            marks["last"] = (time.process_time(), p.segments)

    result = asyncio.run(
        record(url, out, settings=Settings(), duration_s=duration, on_progress=on_progress)
    )
    (cpu0, seg0), (cpu1, seg1) = marks["first"], marks["last"]
    print(json.dumps({"cpu": cpu1 - cpu0, "segments": seg1 - seg0, "state": result.state}))


def steady(url: str, out: Path, duration: float, tree: Path = ROOT) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--steady-child", url, str(out), "--duration", str(duration)],
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CAPTURE_BENCH_TREE": str(tree)},  # whose streamer to import
    )


def ffmpeg(url: str, out: Path, duration: float) -> subprocess.Popen[bytes]:
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        ffmpeg_segment_args(url, out, duration),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to run streamer from")
    parser.add_argument("--steady-child", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steady_child:
        steady_child(args.steady_child[0], Path(args.steady_child[1]), args.duration)
        return
    tree = args.tree.resolve()
    if tree != ROOT:
        print(f"streamer from {tree}", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    source, url = start_source()
    work = Path(tempfile.mkdtemp(prefix="capture-cpu-"))
    rows: list[tuple[float, float, float, float]] = []
    startup: list[tuple[float, float]] = []
    inproc: list[float] = []  # ours, CPU-s per stream-minute, 3rd to last segment
    ratios: list[float] = []
    try:
        for run in range(args.runs):
            a = ours(url, work / f"ours-{run}", args.duration, tree)
            b = ffmpeg(url, work / f"ffmpeg-{run}", args.duration)
            c = steady(url, work / f"steady-{run}", args.duration, tree)
            cpu_a, cpu_b = wait_cpu(a), wait_cpu(b)
            out, _ = c.communicate()
            got = json.loads(out.decode().strip().splitlines()[-1])
            inproc.append(got["cpu"] / max(1, got["segments"]) * 60)
            ratios.append(inproc[-1] / (cpu_b / args.duration * 60))
            print(
                f"       in-process steady state: {got['cpu']:.2f} CPU-s for {got['segments']} "
                f"segments = {inproc[-1]:.3f} CPU-s per stream-minute = {ratios[-1]:.2f}x "
                f"ffmpeg (load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            covered = Timeline.load(work / f"ours-{run}").covered_s()
            files = len(list((work / f"ffmpeg-{run}").glob("*.ts")))
            rows.append((cpu_a, covered, cpu_b, args.duration))
            print(
                f"run {run + 1}: ours {cpu_a:.2f} CPU-s for {covered:.0f} s "
                f"(rc {a.returncode}); ffmpeg {cpu_b:.2f} CPU-s for {args.duration:.0f} s "
                f"({files} files, rc {b.returncode})",
                flush=True,
            )
            short = ours(url, work / f"startup-{run}", 1.0, tree)
            startup.append((wait_cpu(short), Timeline.load(work / f"startup-{run}").covered_s()))
            s_cpu, s_cov = startup[-1]
            marginal = max(0.0, cpu_a - s_cpu) / max(1.0, covered - s_cov) * 60
            print(
                f"       start-up {s_cpu:.2f} CPU-s (--duration 1); steady {marginal:.3f} "
                f"CPU-s per stream-minute = {marginal / (cpu_b / args.duration * 60):.2f}x",
                flush=True,
            )
    finally:
        source.terminate()
        source.wait()
        shutil.rmtree(work, ignore_errors=True)
    per_min_ours = statistics.median(cpu / cov * 60 for cpu, cov, _, _ in rows)
    per_min_ff = statistics.median(cpu / dur * 60 for _, _, cpu, dur in rows)
    start_cost = statistics.median(cpu for cpu, _ in startup)
    # Marginal cost: the long run minus the short one, per extra minute of stream.
    marginal = statistics.median(
        max(0.0, cpu - s_cpu) / max(1.0, cov - s_cov) * 60
        for (cpu, cov, _, _), (s_cpu, s_cov) in zip(rows, startup, strict=True)
    )
    print()
    print(f"ffmpeg -c copy -f segment : {per_min_ff:.3f} CPU-s per stream-minute (baseline)")
    print(
        f"streamer record (process) : {per_min_ours:.3f} CPU-s per stream-minute "
        f"= {per_min_ours / per_min_ff:.2f}x"
    )
    print(f"streamer start-up         : {start_cost:.2f} CPU-s once per recording")
    print(
        f"streamer steady state     : {marginal:.3f} CPU-s per stream-minute "
        f"= {marginal / per_min_ff:.2f}x (60 s run minus 1 s run: noisy)"
    )
    print(
        f"streamer steady, measured in the process (3rd to last segment): "
        f"{statistics.median(inproc):.3f} CPU-s per stream-minute; ratio to ffmpeg's run "
        f"beside it, median of {len(ratios)}: {statistics.median(ratios):.2f}x (goal <= 1.0x)"
    )


if __name__ == "__main__":
    main()
