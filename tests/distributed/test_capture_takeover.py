"""A capturing worker is SIGKILLed mid-broadcast: another worker, on its own data dir, takes
the lease over, resumes from what was shipped to S3 and refetches what the playlist window
still holds. The stored recording has no duplicate segment and no hole longer than the
takeover (here none at all: the playlist window is longer than the takeover)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from streamer.capture.timeline import TIMELINE, Timeline
from streamer.distributed.raw import pull, raw_root
from streamer.distributed.schema import ensure_schema
from streamer.errors import NotFound
from streamer.simulate import ReplayServer
from tests.publish.conftest import MotoS3, make_s3

from .procs import Child, child_env

TTL = 5.0
HANG_S = 120.0  # a bound on a hang, not on speed: the machine may be loaded
ROOT_KEY = raw_root("raw", "testcon", "day1")


def stored_seqs(storage: object) -> list[int]:
    try:
        data = storage.get_bytes(f"{ROOT_KEY}/{TIMELINE}")  # type: ignore[attr-defined]
    except NotFound:
        return []
    return [r["seq"] for r in map(json.loads, data.splitlines()) if r.get("t") == "seg"]


def test_sigkill_of_the_capturing_worker_loses_nothing(
    pg_dsn: str,
    moto_s3: MotoS3,
    bucket: str,
    replay_cache: Path,
    tmp_path: Path,
    children: list[Child],
) -> None:
    asyncio.run(ensure_schema(pg_dsn))
    storage = make_s3(moto_s3, bucket, prefix="")
    # a 30 s playlist window, longer than lease + start-up: the new owner can fill the hole
    replay = ReplayServer(
        replay_cache, width=320, height=180, count=6, window=30, video_bitrate="300k"
    ).start()
    try:
        run_takeover(pg_dsn, moto_s3, bucket, replay, storage, tmp_path, children)
    finally:
        replay.close()


def run_takeover(
    pg_dsn: str,
    moto_s3: MotoS3,
    bucket: str,
    replay: ReplayServer,
    storage: object,
    tmp_path: Path,
    children: list[Child],
) -> None:
    env = child_env()

    def worker(name: str, duration: float) -> Child:
        args = ["-m", "tests.distributed.capture_proc", pg_dsn, replay.url(0),
                str(tmp_path / name), moto_s3.endpoint, bucket,
                str(TTL), str(duration)]  # fmt: skip
        child = Child(args, env)
        children.append(child)
        child.expect("ready")
        return child

    a = worker("host-a", 300)
    a.expect("capturing")
    deadline = time.monotonic() + HANG_S
    while len(stored_seqs(storage)) < 3:  # A has shipped a few segments
        assert time.monotonic() < deadline, a.seen
        time.sleep(0.1)
    b = worker("host-b", 12)
    a.kill()
    before = stored_seqs(storage)
    b.expect("capturing", timeout=HANG_S)
    assert b.expect("outcome", timeout=90) == "outcome recorded 2"  # token 2: a new owner
    assert b.proc.wait(timeout=30) == 0

    seqs = stored_seqs(storage)
    assert seqs[: len(before)] == before  # B continued A's stored timeline
    assert len(seqs) == len(set(seqs)), "a segment was stored twice"
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), f"hole in {seqs}"
    assert len(seqs) > len(before) + 5

    # and it reads back as a recording another machine can cut
    copy = tmp_path / "host-c"
    pull(storage, ROOT_KEY, copy)
    timeline = Timeline.load(copy)
    assert [s.seq for s in timeline.segments] == seqs
    assert timeline.gaps() == []  # full coverage: the window healed the takeover
