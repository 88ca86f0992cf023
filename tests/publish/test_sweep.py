"""What a killed publish leaves is swept: local temp files (0600) and S3 multipart uploads
(moto's real server), by key and by age, on an injected clock."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from streamer.config import Settings
from streamer.pipeline.sweep import sweep_session_uploads, sweep_storage
from streamer.publish.local import LocalStorage
from streamer.timeutil import now
from tests.publish.conftest import EVENT_ID, MB, MotoS3, make_s3


def _killed_write(folder: Path, name: str, age_s: float) -> Path:
    """A temp file as streamer.files.atomic_file leaves it when killed mid-write."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{name}.k1ll3d_x.tmp"
    path.write_bytes(b"\0" * 4096)
    path.chmod(0o600)
    at = (now() - timedelta(seconds=age_s)).timestamp()
    os.utime(path, (at, at))
    return path


def test_local_temp_files_are_swept_by_key_and_age(tmp_path: Path) -> None:
    root = tmp_path / "public"
    folder = root / EVENT_ID
    old_media = _killed_write(folder, "talk.mp4", age_s=3600)
    fresh_index = _killed_write(folder, "index.json", age_s=1)  # another writer, right now
    other = _killed_write(folder, "other.mp4", age_s=3600)
    (folder / "talk.jpg").write_bytes(b"a finished object")
    storage = LocalStorage(root)
    # a session's own publish sweeps its keys whatever their age, and nothing else
    sweep_session_uploads(storage, EVENT_ID, "talk", now())
    assert not old_media.exists() and fresh_index.exists() and other.exists()
    # at start: what is older than the retry budget
    settings = Settings(_env_file=None, storage=str(root), s3_retry_total_s=300)  # type: ignore[call-arg]
    assert sweep_storage(settings, now()) == [f"{EVENT_ID}/other.mp4"]
    assert fresh_index.exists()
    assert sorted(p.name for p in folder.iterdir()) == [".index.json.k1ll3d_x.tmp", "talk.jpg"]
    assert storage.list() == [f"{EVENT_ID}/talk.jpg"]


def test_stale_s3_multipart_uploads_are_aborted(moto_s3: MotoS3, bucket: str) -> None:
    client = moto_s3.client()
    killed = {}
    for key in ("vods/forum-2021/talk.mp4", "vods/forum-2021/other.mp4", "elsewhere/x.mp4"):
        up = client.create_multipart_upload(Bucket=bucket, Key=key)
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=1, Body=b"\0" * (5 * MB)
        )
        killed[key] = up["UploadId"]

    def pending() -> list[str]:
        return sorted(
            u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        )

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        storage=f"s3://{bucket}/vods",
        s3_endpoint_url=moto_s3.endpoint,
        s3_retry_total_s=300,
    )
    # moto stamps every upload with one fixed Initiated time; the rule counts from it
    begun = client.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["Initiated"]
    # begun within the retry budget: it may be another process's live upload, so it stays
    assert sweep_storage(settings, begun + timedelta(seconds=299)) == []
    assert len(pending()) == 3
    # a session's own publish aborts its upload whatever its age
    sweep_session_uploads(make_s3(moto_s3, bucket), EVENT_ID, "talk", now())
    assert pending() == ["elsewhere/x.mp4", "vods/forum-2021/other.mp4"]
    # at a start more than the retry budget later: aborted, outside the prefix untouched
    assert sweep_storage(settings, begun + timedelta(seconds=301)) == [f"{EVENT_ID}/other.mp4"]
    assert pending() == ["elsewhere/x.mp4"]
    assert client.list_objects_v2(Bucket=bucket, Prefix="vods/").get("KeyCount", 0) == 0
