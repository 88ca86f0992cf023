"""The procrastinate runner behind the runner seam: the planner's process only defers the job;
a `streamer worker` on its own data dir, that never saw the recording, pulls the session's
window from the raw store (moto S3), cuts it, publishes it, and records every transition in the
shared PostgreSQL state DB."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from streamer.config import Settings
from streamer.distributed.app import make_app
from streamer.distributed.raw import RawShipper, raw_root
from streamer.distributed.runner import ProcrastinateRunner
from streamer.distributed.schema import ensure_schema
from streamer.pipeline import stages
from streamer.pipeline.states import BroadcastState, SessionState
from streamer.pipeline.store import Store
from streamer.publish import open_storage
from streamer.publish.catalog import read_index
from tests.publish.conftest import MotoS3
from tests.split.conftest import Recording

from .procs import Child, child_env


def test_a_session_is_cut_and_published_by_a_worker_that_never_saw_the_recording(
    pg_url: str,
    pg_dsn: str,
    recording: Recording,
    moto_s3: MotoS3,
    bucket: str,
    tmp_path: Path,
    children: list[Child],
) -> None:
    shared = {
        "STREAMER_RUNNER": "procrastinate",
        "STREAMER_DATABASE_URL": pg_url,
        "STREAMER_STORAGE": f"s3://{bucket}/vods",
        "STREAMER_RAW_STORAGE": f"s3://{bucket}",
        "STREAMER_S3_ENDPOINT_URL": moto_s3.endpoint,
        "STREAMER_S3_RETRY_TOTAL_S": "20",
    }
    planner = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "planner",
        runner="procrastinate",
        database_url=pg_url,
        storage=shared["STREAMER_STORAGE"],
        raw_storage=shared["STREAMER_RAW_STORAGE"],
        s3_endpoint_url=moto_s3.endpoint,
        s3_retry_total_s=20,
    )
    # the capture ran on a third machine: its dir is in the DB, its segments in the raw store
    store = Store(pg_url)
    store.sync_program(recording.program)
    store.save_recording("testcon", "day1", dir="/elsewhere/recordings/testcon/day1")
    store.set_broadcast_state("testcon", "day1", BroadcastState.LIVE)
    store.set_broadcast_state("testcon", "day1", BroadcastState.ENDED, "ENDLIST")
    raw = open_storage(planner, planner.raw_storage)
    RawShipper(raw, raw_root("raw", "testcon", "day1"), recording.directory).ship()

    async def defer() -> list[int]:
        await ensure_schema(pg_dsn)
        app = make_app(planner)
        async with app.open_async():
            runner = ProcrastinateRunner(app)
            assert await runner.run(stages.process_stage, planner, "testcon", "mid", False) is None
            # planned twice: queued once
            await runner.run(stages.process_stage, planner, "testcon", "mid", False)
            return runner.deferred

    assert len(asyncio.run(defer())) == 1
    assert store.session("testcon", "mid").state == SessionState.PLANNED  # nothing ran here

    worker_dir = tmp_path / "worker"
    env = child_env(**shared, STREAMER_DATA_DIR=str(worker_dir))
    worker = Child(["-m", "streamer", "worker", "--queues", "split,publish"], env)
    children.append(worker)
    deadline = time.monotonic() + 180
    while store.session("testcon", "mid").state not in (SessionState.PUBLISHED,
                                                           SessionState.INCOMPLETE,
                                                           SessionState.FAILED):  # fmt: skip
        assert worker.proc.poll() is None, worker.proc.stderr.read() if worker.proc.stderr else ""
        assert time.monotonic() < deadline, store.session("testcon", "mid")
        time.sleep(0.2)
    s = store.session("testcon", "mid")
    assert s.state == SessionState.PUBLISHED, s.reason
    index = read_index(open_storage(planner), "testcon")
    assert index is not None and [i["session_id"] for i in index["items"]] == ["mid"]
    # the worker fetched only the session's window into its own data dir
    pulled = list((worker_dir / "recordings" / "testcon" / "day1").rglob("*.ts"))
    assert 0 < len(pulled) < len(list(recording.directory.rglob("*.ts")))
