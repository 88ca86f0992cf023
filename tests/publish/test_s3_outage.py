"""The S3 server goes away in the middle of a publish.

moto keeps its objects in this process, not in the server thread, so a server stopped and
started again on the same port still holds them: like a store that was unreachable for a while.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from streamer.errors import StorageError
from streamer.publish.catalog import Publisher, read_index
from streamer.publish.s3_retry import RetryPolicy

from .conftest import EVENT_ID, MB, MotoS3, make_s3, write_session
from .helpers import Watched, assert_sound


@pytest.mark.parametrize(
    "at",
    [
        f"{EVENT_ID}/d1-talk.mp4",  # while the media are going up (multipart, many parts)
        f"{EVENT_ID}/d1-talk.jpg",  # right after the media were verified
        f"{EVENT_ID}/d1-talk.json",  # before the record
        f"{EVENT_ID}/index.json",  # before the index is replaced
        "events.json",
    ],
)
def test_outage_mid_publish_is_retried(
    moto_s3: MotoS3,
    bucket: str,
    vod_dir: Path,
    tmp_path: Path,
    media_cache: Path,
    at: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = make_s3(moto_s3, bucket)
    Publisher(store).publish_session(vod_dir, EVENT_ID, "d1-keynote")
    # a talk larger than the part size, so an outage can hit the middle of a multipart upload
    big = tmp_path / "big.mp4"
    big.write_bytes((vod_dir / EVENT_ID / "d1-talk.mp4").read_bytes() + bytes(11 * MB))
    write_session(vod_dir, "d1-talk", big, start="11:00", thumb=media_cache / "thumb.jpg")

    stops = moto_s3.stops
    restarted = threading.Event()

    def outage() -> None:
        moto_s3.stop()
        timer = threading.Timer(1.5, lambda: (moto_s3.start(), restarted.set()))
        timer.start()

    fired: list[str] = []

    def before(op: str, key: str) -> None:
        if key == at and not fired and not at.endswith(".mp4"):
            fired.append(key)
            outage()

    def on_progress(key: str, done: int, total: int) -> None:
        # mid-upload: after the first part has gone, before the last
        if key == at and not fired and 5 * MB < done < total:
            fired.append(key)
            threading.Thread(target=outage).start()

    caplog.set_level(logging.WARNING, logger="streamer.publish.s3")
    watched = Watched(store, before, check_on_failure=False)
    record = Publisher(watched, on_progress=on_progress).publish_session(
        vod_dir, EVENT_ID, "d1-talk"
    )
    assert fired == [at] and moto_s3.stops == stops + 1 and restarted.wait(10)
    assert any("retrying" in r.getMessage() for r in caplog.records)  # it did fail, then retry
    assert record.version == 1
    index = read_index(store, EVENT_ID)
    assert index is not None
    assert [i["session_id"] for i in index["items"]] == ["d1-keynote", "d1-talk"]
    assert assert_sound(store) == 2
    assert store.get_bytes(f"{EVENT_ID}/d1-talk.mp4") == big.read_bytes()


def test_long_outage_fails_cleanly_then_completes(
    moto_s3: MotoS3, bucket: str, vod_dir: Path
) -> None:
    """Down for longer than the retry budget: StorageError, a sound index, and a later run
    that finishes the job."""
    quick = RetryPolicy(total_s=1.0, initial_s=0.1, max_wait_s=0.3, connect_timeout_s=1)
    store = make_s3(moto_s3, bucket, retry=quick)
    Publisher(store).publish_session(vod_dir, EVENT_ID, "d1-keynote")

    def before(op: str, key: str) -> None:
        if key == f"{EVENT_ID}/d1-talk.json" and moto_s3.server is not None:
            moto_s3.stop()

    with pytest.raises(StorageError):
        Publisher(Watched(store, before, check_on_failure=False)).publish_session(
            vod_dir, EVENT_ID, "d1-talk"
        )
    moto_s3.start()
    # the media went up, the record did not: the index still lists only the keynote
    assert store.head(f"{EVENT_ID}/d1-talk.mp4") is not None
    index = read_index(store, EVENT_ID)
    assert index is not None
    assert [i["session_id"] for i in index["items"]] == ["d1-keynote"]
    assert assert_sound(store) == 1
    watched = Watched(store)
    Publisher(watched).publish_session(vod_dir, EVENT_ID, "d1-talk")
    assert f"{EVENT_ID}/d1-talk.mp4" not in [k for _, k in watched.writes]  # already there
    assert assert_sound(store) == 2
