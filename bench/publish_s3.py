"""Upload one large VOD to a local S3 server: S3Storage.put_file against boto3's upload_file
and against ``aws s3 cp`` (awscli), the same file, side by side in one run.

    .venv/bin/python bench/publish_s3.py [--size-mb 500] [--runs 3] [--endpoint URL]

The server is moto's standalone server in its own process (so it does not share our GIL), on
127.0.0.1. Ours includes what publishing needs and the baselines do not do: S3's CRC32C per
part (composite for the object; ``--checksum CRC64NVME`` for a full-object one),
ContentType/CacheControl/metadata, and verification after the upload (head: size, sha256
metadata, the store's checksum against the parts' CRCs). moto computes CRC32C right only with
the ``crc32c`` package (``moto[s3crc32c]``, in the dev extra). ``aws`` is taken from
PATH, or installed once with pip into bench/.cache/awscli-venv (awscli pins its own botocore, so
it gets a venv of its own). Prints the median of each, and the ratios baseline/ours (> 1 means
ours is faster). 500 MB x 3 uploaders x (3 runs + 1 warm-up) takes 2 to 5 minutes here.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.publish.checksum import Checksum  # noqa: E402
from streamer.publish.s3 import S3Storage  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
MB = 1024 * 1024


def make_input(size_mb: int) -> tuple[Path, str]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"vod-{size_mb}m.bin"
    if not path.exists() or path.stat().st_size != size_mb * MB:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for _ in range(size_mb):
                f.write(os.urandom(MB))
        tmp.replace(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MB):
            digest.update(chunk)
    return path, digest.hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def find_aws() -> str:
    """The ``aws`` command: on PATH, else a venv of its own under bench/.cache."""
    found = shutil.which("aws")
    if found:
        return found
    venv = CACHE / "awscli-venv"
    exe = venv / "bin" / "aws"
    if not exe.exists():
        print("installing awscli into bench/.cache/awscli-venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "awscli"]
        subprocess.run(pip, check=True)
    return str(exe)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (awscli): the uploader's side."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds of another process (the moto server), from /proc; 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU: dict[str, list[float]] = {}
SERVER_CPU: dict[str, list[float]] = {}


def timed(fn: Callable[[], object], name: str = "", server: int | None = None) -> float:
    cpu, srv = _cpu(), _proc_cpu(server)
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    if name:
        CPU.setdefault(name, []).append(_cpu() - cpu)
        SERVER_CPU.setdefault(name, []).append(_proc_cpu(server) - srv)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--part-size-mb", type=int, default=16, help="ours (STREAMER default)")
    parser.add_argument("--concurrency", type=int, default=8, help="ours (STREAMER default)")
    parser.add_argument(
        "--checksum", choices=[c.value for c in Checksum], default=Checksum.CRC32C.value
    )
    parser.add_argument(
        "--endpoint", help="an S3 endpoint to use instead of a local moto (e.g. a MinIO)"
    )
    parser.add_argument("--bucket", default="bench")
    args = parser.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    path, sha = make_input(args.size_mb)
    server = None
    endpoint = args.endpoint
    if endpoint is None:
        port = free_port()
        server = start_server(port)
        endpoint = f"http://127.0.0.1:{port}"
    bucket = args.bucket
    try:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
        ours = S3Storage(
            bucket,
            "ours",
            endpoint_url=endpoint,
            region="us-east-1",
            path_style=True,
            part_size=args.part_size_mb * MB,
            concurrency=args.concurrency,
            checksum=Checksum(args.checksum),
        )

        def run_ours() -> None:
            ours.put_file(
                "vod.mp4",
                path,
                content_type="video/mp4",
                cache_control="public, max-age=86400",
                sha256=sha,
            )

        def run_baseline() -> None:
            client.upload_file(str(path), bucket, "baseline/vod.mp4")  # boto3 defaults

        aws = find_aws()
        env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}

        def run_awscli() -> None:
            cmd = [aws, "s3", "cp", str(path), f"s3://{bucket}/awscli/vod.mp4"]
            cmd += ["--endpoint-url", endpoint, "--only-show-errors"]
            subprocess.run(cmd, check=True, env=env)

        runs = [("ours", run_ours), ("boto3 upload_file", run_baseline), ("aws s3 cp", run_awscli)]
        times: dict[str, list[float]] = {name: [] for name, _ in runs}
        # one uncounted round: connections, the server's first allocations, the page cache
        for _, fn in runs:
            fn()
        for i in range(args.runs):
            # rotate, so none always runs first or on a warmer server
            order = runs[i % len(runs) :] + runs[: i % len(runs)]
            for name, fn in order:
                for key in ("ours/vod.mp4", "baseline/vod.mp4", "awscli/vod.mp4"):
                    client.delete_object(Bucket=bucket, Key=key)
                elapsed = timed(fn, name, server.pid if server is not None else None)
                times[name].append(elapsed)
                cpu, srv = CPU[name][-1], SERVER_CPU[name][-1]
                print(
                    f"run {i + 1} {name:18s} {elapsed:7.2f} s  client CPU {cpu:6.2f} s"
                    f"  server CPU {srv:6.2f} s  load {os.getloadavg()[0]:5.2f}",
                    flush=True,
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)

    med = {k: statistics.median(v) for k, v in times.items()}
    print()
    where = "moto S3 on loopback" if server is not None else endpoint
    print(f"{args.size_mb} MB to {where}, median of {args.runs} (ours: {args.checksum}):")
    for name, t in med.items():
        spread = f"min {min(times[name]):.2f} max {max(times[name]):.2f}"
        print(f"  {name:18s} {t:7.2f} s  {args.size_mb / t:7.1f} MB/s  ({spread})")
    cpu = {k: statistics.median(v) for k, v in CPU.items()}
    for base in ("boto3 upload_file", "aws s3 cp"):
        ratio = med[base] / med["ours"]
        best = min(times[base]) / min(times["ours"])
        print(f"  {base} time / ours: {ratio:.2f}x median, {best:.2f}x best  (goal >= 1.0x)")
        print(f"  {base} client CPU / ours: {cpu[base] / cpu['ours']:.2f}x median")
    srv = {k: statistics.median(v) for k, v in SERVER_CPU.items()}
    if server is not None:
        print(
            "  server (moto) CPU per upload, median: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in srv.items())
        )
    print("  (client CPU: the uploading process, and awscli's; moto's is the server's)")
    print(f"  load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
