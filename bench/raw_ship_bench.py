"""The extra CPU per stream of shipping raw segments to S3, against capture alone.

    .venv/bin/python bench/raw_ship_bench.py [--runs 3] [--duration 60]

One replay source (1280x720, 25 fps, ~2.5 Mb/s, 1 s segments; ``streamer simulate
--replay 1``) and moto's S3 server, each in its own process. Each run records the same stream
at the same time in two child processes, and reads each child's CPU time from ``wait4``:

* capture alone: the recorder (``streamer.capture.hls.record``), as a capture job runs it;
* capture + shipping: the same, with the capture job's ship loop
  (``streamer.distributed.capture.ship_loop``: ``RawShipper.ship`` every 2 s, each segment
  uploaded with its SHA-256, then the timeline) to the moto server.

Prints the medians in CPU-s per recorded stream-minute, the ratio, and the extra per
stream-minute (the difference within each run, median over runs). The moto server's own CPU is
not counted (it stands for S3). Lease renewals (one query every lease/3) are not included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from capture_cpu import CACHE, free_port, start_source, wait_cpu  # noqa: E402

from streamer.capture.timeline import Timeline  # noqa: E402

BUCKET = "raw-bench"


def child(mode: str, url: str, out: Path, duration: float, endpoint: str) -> None:
    """One recording (``mode``: ``capture`` or ``ship``), in this process."""
    from streamer.capture.hls import record
    from streamer.config import Settings
    from streamer.distributed.capture import ship_loop
    from streamer.distributed.raw import RawShipper
    from streamer.publish.s3 import S3Storage

    async def main() -> None:
        stop = asyncio.Event()
        shipping = None
        if mode == "ship":
            storage = S3Storage(BUCKET, "", endpoint_url=endpoint, path_style=True)
            shipper = RawShipper(storage, f"raw/bench/{out.name}", out)
            shipping = asyncio.ensure_future(ship_loop(shipper, stop, 2.0))
        # the replay source is on 127.0.0.1: opt in, as the tests do
        settings = Settings(_env_file=None, allow_private_sources=True)  # type: ignore[call-arg]
        done = await record(
            url, out, stop=stop, duration_s=duration, stall_timeout_s=20, settings=settings
        )
        print(f"{mode}: {done.state} ({done.reason}), {done.segments} segments", flush=True)
        stop.set()
        if shipping is not None:
            await shipping
            await asyncio.to_thread(shipper.ship)  # the rest, as a clean end does

    asyncio.run(main())


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    proc = subprocess.Popen([moto, "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return proc, endpoint


def stored_segments(endpoint: str, prefix: str) -> int:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sum(o["Key"].endswith(".ts") for page in pages for o in page.get("Contents", []))


def spawn(
    mode: str, url: str, out: Path, duration: float, endpoint: str
) -> subprocess.Popen[bytes]:
    args = [sys.executable, __file__, "--child", mode, url, str(out), str(duration), endpoint]
    log = open(out.with_suffix(".log"), "wb")  # noqa: SIM115  # closed with the work dir
    return subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        mode, url, out, duration, endpoint = sys.argv[2:7]
        child(mode, url, Path(out), float(duration), endpoint)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")  # moto checks no signatures
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    CACHE.mkdir(parents=True, exist_ok=True)
    source, url = start_source()
    moto, endpoint = start_moto()
    work = Path(tempfile.mkdtemp(prefix="raw-ship-"))
    alone: list[float] = []
    shipped: list[float] = []
    try:
        for run in range(args.runs):
            a = spawn("capture", url, work / f"alone-{run}", args.duration, endpoint)
            b = spawn("ship", url, work / f"ship-{run}", args.duration, endpoint)
            cpu_a, cpu_b = wait_cpu(a), wait_cpu(b)
            covered = Timeline.load(work / f"alone-{run}").covered_s()
            covered_b = Timeline.load(work / f"ship-{run}").covered_s()
            alone.append(cpu_a / max(1.0, covered) * 60)
            shipped.append(cpu_b / max(1.0, covered_b) * 60)
            recorded = len(Timeline.load(work / f"ship-{run}").segments)
            stored = stored_segments(endpoint, f"raw/bench/ship-{run}/")
            print(f"run {run + 1}: capture {cpu_a:.2f} CPU-s (rc {a.returncode}); "
                  f"capture + shipping {cpu_b:.2f} CPU-s (rc {b.returncode}) "
                  f"for {args.duration:.0f} s; {stored}/{recorded} segments in S3",
                  flush=True)  # fmt: skip
            if recorded < args.duration * 0.8 or stored != recorded:
                raise SystemExit("a child did not record, or did not ship, every segment")
    finally:
        for proc in (source, moto):
            proc.terminate()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    base, ours = statistics.median(alone), statistics.median(shipped)
    print()
    print(f"capture alone       : {base:.3f} CPU-s per stream-minute (baseline)")
    print(f"capture + shipping  : {ours:.3f} CPU-s per stream-minute = {ours / base:.2f}x")
    extra = statistics.median(b - a for a, b in zip(alone, shipped, strict=True))
    print(f"shipping, extra     : {extra:.3f} CPU-s per stream-minute (median of the runs)")
    print("(both include the process start-up: Python, imports, resolving, once per recording)")


if __name__ == "__main__":
    main()
