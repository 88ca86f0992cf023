"""S3 down for 10 minutes in the middle of a publish: the VODs publish when it returns, with
nothing lost or duplicated.

moto's server is really stopped (connections refused) and started again on the same port (it
keeps its objects, like a store that was unreachable). Time is injected: the S3 retry budget
runs on a fake clock whose sleeps advance it, and the service's retry schedule (``next_try_at``
in the state DB) is followed on the same fake clock, so 10 minutes take a few real seconds.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from streamer.pipeline import stages
from streamer.pipeline.retry import POLICY
from streamer.pipeline.states import SessionState
from streamer.publish import s3 as s3mod
from streamer.publish import s3_retry
from streamer.publish.catalog import read_events, read_index, record_key
from streamer.publish.open import open_storage
from tests.publish.conftest import MotoS3

from .conftest import EVENT, Pipeline

OUTAGE_S = 600.0


class FakeTime:
    """Seconds since the outage began; moto comes back once they pass ``OUTAGE_S``."""

    def __init__(self, moto: MotoS3) -> None:
        self.t = 0.0
        self.moto = moto
        self.down = False

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        if self.down and self.t >= OUTAGE_S:
            self.moto.start()
            self.down = False


def test_s3_down_10_minutes_during_publish(
    pipeline: Pipeline, moto_s3: MotoS3, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pipeline.settings.model_copy(
        update={
            "storage": f"s3://{bucket}/vods",
            "s3_endpoint_url": moto_s3.endpoint,
            "s3_path_style": True,
        }
    )
    fake = FakeTime(moto_s3)
    # the service's own budget (300 s), on the fake clock; one botocore attempt per try, so
    # the only waiting is the injected one
    policy = functools.partial(
        s3_retry.RetryPolicy, clock=fake.clock, sleep=fake.sleep, botocore_attempts=1
    )
    monkeypatch.setattr(s3_retry, "RetryPolicy", policy)
    assert settings.s3_retry_total_s == 300

    stages.process_stage(settings, EVENT, "s1")
    assert pipeline.store.session(EVENT, "s1").state == SessionState.PUBLISHED

    real_put = s3mod.S3Storage.put_file

    def put_file(self: s3mod.S3Storage, key: str, path: Path, **kw: Any) -> Any:
        if key == f"{EVENT}/s2.mp4" and not fake.down and fake.t == 0:
            moto_s3.stop()  # S3 goes away as s2's media start to go up
            fake.down = True
        return real_put(self, key, path, **kw)

    monkeypatch.setattr(s3mod.S3Storage, "put_file", put_file)

    tries = 0
    while True:
        tries += 1
        assert tries < 20, "still not published"
        stages.process_stage(settings, EVENT, "s2")
        s = pipeline.store.session(EVENT, "s2")
        if s.state != SessionState.FAILED:
            break
        # an outage is never final: the policy always plans a next try
        assert s.next_try_at is not None and "s3" in (s.reason or ""), s.reason
        assert POLICY.next_try(s.attempts, s.next_try_at, s.updated_at) == s.next_try_at
        fake.sleep((s.next_try_at - s.updated_at).total_seconds())  # the planned job's wait

    assert s.state == SessionState.PUBLISHED and s.vod_version == 1, (s.state, s.reason)
    assert fake.t >= OUTAGE_S and tries >= 2 and not fake.down

    storage = open_storage(settings)
    index = read_index(storage, EVENT)
    assert index is not None
    assert [(i["session_id"], i["version"]) for i in index["items"]] == [("s1", 1), ("s2", 1)]
    assert [e["count"] for e in read_events(storage)["events"]] == [2]
    keys = sorted(storage.list(f"{EVENT}/"))
    expected = [f"{EVENT}/{n}" for n in ("feed.xml", "index.json")]
    expected += [f"{EVENT}/{sid}.{ext}" for sid in ("s1", "s2") for ext in ("jpg", "json", "mp4")]
    assert keys == sorted(expected)  # nothing lost, nothing extra
    assert storage.head(record_key(EVENT, "s2")) is not None
    uploads = moto_s3.client().list_multipart_uploads(Bucket=bucket)
    assert uploads.get("Uploads", []) == []  # no parts of the cut-off upload left behind
    posts = [p for p in pipeline.store.take_posts() if p[0] == "session.published"]
    assert [p[1]["session_id"] for p in posts] == ["s1", "s2"]  # each announced once
