"""Raw recordings shipped to object storage (moto's S3 server) and read back through a cache
on a machine that never saw them, then cut there with the real splitter."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from streamer.capture.timeline import TIMELINE, Timeline, TimelineWriter
from streamer.distributed.leases import LeaseLost
from streamer.distributed.raw import RawShipper, pull, raw_root
from streamer.errors import StorageError
from streamer.split import split_session
from tests.publish.conftest import MotoS3, make_s3
from tests.split.conftest import Recording, at


def test_ship_then_split_on_a_machine_that_never_saw_the_recording(
    recording: Recording, moto_s3: MotoS3, bucket: str, tmp_path: Path
) -> None:
    storage = make_s3(moto_s3, bucket, prefix="")
    root = raw_root("raw", "testcon", "day1")
    shipper = RawShipper(storage, root, recording.directory)
    segments = len(Timeline.load(recording.directory).segments)
    assert shipper.ship() == segments + 2  # every segment, then the timeline and metadata
    assert shipper.ship() == 0  # nothing new
    assert f"{root}/{TIMELINE}" in storage.list("raw/")

    other = tmp_path / "worker-b" / "recordings" / "testcon" / "day1"  # its own data dir
    session = next(s for s in recording.program.sessions if s.id == "part")
    fetched = pull(storage, root, other, window=(session.start, session.end))
    assert 0 < fetched < segments  # only what the window needs
    assert pull(storage, root, other, window=(session.start, session.end)) == 0  # cached

    here = split_session(
        recording.directory, recording.program, "part", tmp_path / "vods-a", mode="exact"
    ).record
    there = split_session(
        other, recording.program, "part", tmp_path / "vods-b", mode="exact"
    ).record
    assert there.duration_s == pytest.approx(here.duration_s, abs=0.05)
    assert there.coverage == pytest.approx(here.coverage)
    assert [g.model_dump() for g in there.gaps] == [g.model_dump() for g in here.gaps]


def test_shipping_is_incremental_and_skips_a_torn_line(
    recording: Recording, moto_s3: MotoS3, bucket: str, tmp_path: Path
) -> None:
    storage = make_s3(moto_s3, bucket, prefix="")
    segs = Timeline.load(recording.directory).segments
    live = tmp_path / "live"
    shipper = RawShipper(storage, "raw/e/b", live)
    with TimelineWriter(live) as w:
        for s in segs[:2]:
            w.write_segment(s.part, s.seq, (recording.directory / s.file).read_bytes(),
                            s.start, s.duration, True)  # fmt: skip
        assert shipper.ship() == 3  # two segments and the timeline (no metadata yet)
        s = segs[2]
        w.write_segment(s.part, s.seq, (recording.directory / s.file).read_bytes(),
                        s.start, s.duration, True)  # fmt: skip
    with (live / TIMELINE).open("a") as fh:
        fh.write('{"t": "seg", "file": "part-001/torn')  # a row being appended right now
    assert shipper.ship() == 2  # the new segment, the timeline up to its last full line
    stored = storage.get_bytes(f"raw/e/b/{TIMELINE}").decode()
    assert stored.endswith("\n") and "torn" not in stored
    assert [json.loads(x)["seq"] for x in stored.splitlines()] == [s.seq for s in segs[:3]]

    resumed = RawShipper(storage, "raw/e/b", live)  # a new owner on another machine
    resumed.resume()
    assert resumed.ship() == 1  # only the timeline: it has not shipped one itself yet


def test_a_fenced_out_shipper_never_overwrites_the_timeline(
    recording: Recording, moto_s3: MotoS3, bucket: str
) -> None:
    storage = make_s3(moto_s3, bucket, prefix="")
    calls = [0]

    def fence() -> None:
        calls[0] += 1
        if calls[0] > 3:
            raise LeaseLost("taken over")

    shipper = RawShipper(storage, "raw/e/b", recording.directory, fence=fence)
    with pytest.raises(LeaseLost):
        shipper.ship()
    keys = storage.list("raw/")
    assert len(keys) == 3 and not any(k.endswith(TIMELINE) for k in keys)


def test_pull_refuses_a_timeline_that_points_outside(
    moto_s3: MotoS3, bucket: str, tmp_path: Path
) -> None:
    storage = make_s3(moto_s3, bucket, prefix="")
    row = {"t": "seg", "part": 1, "seq": 1, "start": at(0).isoformat(), "dur": 2.0,
           "bytes": 4, "file": "../../../etc/x.ts"}  # fmt: skip
    storage.put_bytes(f"raw/e/b/{TIMELINE}", (json.dumps(row) + "\n").encode(),
                      content_type="application/x-ndjson", cache_control="no-store")  # fmt: skip
    with pytest.raises(StorageError, match="unsafe segment path"):
        pull(storage, "raw/e/b", tmp_path / "cache")
    assert not (tmp_path / "etc").exists()
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
