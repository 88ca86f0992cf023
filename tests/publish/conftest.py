"""Publish fixtures: a real S3 server (moto, over HTTP on loopback), real MP4s from ffmpeg."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from streamer import procs
from streamer.publish.local import LocalStorage
from streamer.publish.s3 import S3Storage
from streamer.publish.s3_retry import RetryPolicy
from streamer.publish.storage import Storage
from tests.conftest import built_once
from tests.ports import free_port

MB = 1024 * 1024
EVENT_ID = "forum-2021"
EVENT = {
    "id": EVENT_ID,
    "title": {"ko": "세종 스마트시티 국제포럼 2021", "en": "Sejong Smart City Forum 2021"},
    "timezone": "Asia/Seoul",
}


@dataclass
class MotoS3:
    """A moto S3 server that can be stopped and started again on the same port."""

    port: int
    server: ThreadedMotoServer | None = None
    stops: int = field(default=0)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(self.endpoint, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("moto did not come up")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            self.stops += 1

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


@pytest.fixture(scope="module", autouse=True)
def _aws_dummies() -> Iterator[None]:
    # moto checks no signatures; boto3 still wants some credentials, never real ones. Undone
    # after each module: an xdist worker runs other areas in the same process.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        if "AWS_DEFAULT_REGION" not in os.environ:
            patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    s3 = MotoS3(port=free_port())
    s3.start()
    yield s3
    s3.stop()


@pytest.fixture
def bucket(moto_s3: MotoS3) -> str:
    """A fresh bucket per test (moto's state lives in this process for the whole session)."""
    if moto_s3.server is None:  # a test left it stopped
        moto_s3.start()
    name = f"t-{uuid.uuid4().hex[:12]}"
    client = moto_s3.client()
    client.create_bucket(Bucket=name)
    # viewers read media anonymously, as from a public bucket (or a CDN in front of one)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{name}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    return name


FAST_RETRY = RetryPolicy(
    total_s=20, initial_s=0.1, max_wait_s=1.0, connect_timeout_s=2, read_timeout_s=20
)


def make_s3(moto_s3: MotoS3, bucket: str, **kw: Any) -> S3Storage:
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("part_size", 5 * MB)
    kw.setdefault("concurrency", 4)
    return S3Storage(
        bucket, kw.pop("prefix", "vods"), endpoint_url=moto_s3.endpoint, path_style=True, **kw
    )


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Each backend the service ships, behind the same interface."""
    if request.param == "local":
        return LocalStorage(tmp_path / "public", base_url="/media")
    moto_s3: MotoS3 = request.getfixturevalue("moto_s3")
    return make_s3(moto_s3, request.getfixturevalue("bucket"))


def resolves(storage: Storage, url: str) -> bool:
    """Whether a public URL from ``storage`` leads to an existing object, the way a viewer goes."""
    if isinstance(storage, LocalStorage):
        prefix = storage.base_url + "/"
        assert url.startswith(prefix), url
        return storage.path_for(url[len(prefix) :]).is_file()
    # a one-byte ranged GET (moto answers anonymous HEADs with 403 even when GET is allowed)
    response = httpx.get(url, headers={"Range": "bytes=0-0"}, timeout=5)
    if response.status_code in (200, 206):
        return True
    assert response.status_code in (403, 404), response.text[:200]
    return False


# -- split output made by ffmpeg ---------------------------------------------------------------


@pytest.fixture(scope="session")
def media_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 2 s MP4s (different content) and a JPEG, made once per run."""
    return built_once(tmp_path_factory, "publish-media", _make_media)


def _make_media(out: Path) -> None:
    ffmpeg = procs.ffmpeg()
    for name, freq in (("a.mp4", 440), ("b.mp4", 880)):
        procs.run(
            [
                ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2",
                "-f", "lavfi", "-i", f"sine=frequency={freq}:duration=2",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(out / name),
            ],
            timeout=60,
        )  # fmt: skip
    procs.run(
        [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(out / "a.mp4"),
            "-frames:v", "1", str(out / "thumb.jpg"),
        ],
        timeout=60,
    )  # fmt: skip


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_session(
    vod_dir: Path,
    session_id: str,
    media: Path,
    *,
    start: str,
    title: dict[str, str] | None = None,
    thumb: Path | None = None,
    event: dict[str, Any] | None = None,
) -> Path:
    """Write split output for one session: mp4, jpg, and a VodRecord JSON without publish fields."""
    event = event or EVENT
    event_dir = vod_dir / event["id"]
    event_dir.mkdir(parents=True, exist_ok=True)
    (event_dir / "event.json").write_text(json.dumps(event, ensure_ascii=False), "utf-8")
    mp4 = event_dir / f"{session_id}.mp4"
    shutil.copyfile(media, mp4)
    if thumb is not None:
        shutil.copyfile(thumb, event_dir / f"{session_id}.jpg")
    hh, mm = start.split(":")
    end_min = int(mm) + 40
    record = {
        "id": f"{event['id']}.{session_id}",
        "event_id": event["id"],
        "session_id": session_id,
        "broadcast_id": "day1",
        "title": title or {"ko": f"세션 {session_id}", "en": f"Session {session_id}"},
        "speakers": [{"name": "김민수", "affiliation": "세종시"}],
        "track": "Keynote",
        "language": "ko",
        "day": "2021-04-27",
        "start": f"2021-04-27T{hh}:{mm}:00+09:00",
        "end": f"2021-04-27T{int(hh) + end_min // 60:02d}:{end_min % 60:02d}:00+09:00",
        "scheduled_start": f"2021-04-27T{hh}:{mm}:00+09:00",
        "scheduled_end": f"2021-04-27T{int(hh) + end_min // 60:02d}:{end_min % 60:02d}:00+09:00",
        "duration_s": 2.0,
        "size_bytes": mp4.stat().st_size,
        "sha256": sha256_of(mp4),
        "gaps": [
            {
                "start": f"2021-04-27T{hh}:{mm}:30+09:00",
                "end": f"2021-04-27T{hh}:{mm}:31+09:00",
                "duration_s": 1.0,
            }
        ],
        "coverage": 0.99,
        "status": "complete",
        "source_url": "https://www.youtube.com/watch?v=abcdefghijk",
        "width": 320,
        "height": 180,
        "video_codec": "h264",
        "audio_codec": "aac",
    }
    (event_dir / f"{session_id}.json").write_text(json.dumps(record, ensure_ascii=False), "utf-8")
    return mp4


@pytest.fixture
def vod_dir(tmp_path: Path, media_cache: Path) -> Path:
    """Split output for one event with two sessions (given out of start order)."""
    root = tmp_path / "vods"
    write_session(
        root, "d1-talk", media_cache / "b.mp4", start="11:00", thumb=media_cache / "thumb.jpg"
    )
    write_session(
        root, "d1-keynote", media_cache / "a.mp4", start="10:00", thumb=media_cache / "thumb.jpg"
    )
    return root
