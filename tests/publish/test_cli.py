"""``streamer publish`` and ``streamer unpublish`` through typer, on a directory and on S3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamer.cli import app
from streamer.publish.catalog import read_events, read_index
from streamer.publish.local import LocalStorage
from streamer.publish.s3 import S3Storage

from .conftest import EVENT_ID, MotoS3
from .helpers import assert_sound


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return {
        "STREAMER_DATA_DIR": str(tmp_path / "data"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_publish_and_unpublish_to_a_directory(
    vod_dir: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    runner = CliRunner()
    target = tmp_path / "site"
    url = target.as_uri()
    dry = runner.invoke(app, ["publish", str(vod_dir), "--to", url, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"would upload {EVENT_ID}/d1-talk.mp4" in dry.output
    assert not target.exists() or not any(target.rglob("*"))

    result = runner.invoke(app, ["publish", str(vod_dir), "--to", url], env=env)
    assert result.exit_code == 0, result.output
    assert "2 VOD(s)" in result.output and f"uploaded {EVENT_ID}/index.json" in result.output
    # the progress bar: one row per file with bytes done/total (speed shows for larger files)
    assert "━" in result.output and f"{EVENT_ID}/d1-talk.mp4" in result.output
    assert "kB" in result.output
    store = LocalStorage(target)
    index = read_index(store, EVENT_ID)
    assert index is not None and len(index["items"]) == 2
    assert assert_sound(store) == 2

    again = runner.invoke(app, ["publish", str(vod_dir), "--to", url], env=env)
    assert again.exit_code == 0 and "uploaded 0 object(s)" in again.output

    gone = runner.invoke(app, ["unpublish", EVENT_ID, "d1-talk", "--to", url], env=env)
    assert gone.exit_code == 0, gone.output
    assert f"deleted {EVENT_ID}/d1-talk.mp4" in gone.output
    index = read_index(store, EVENT_ID)
    assert index is not None and [i["session_id"] for i in index["items"]] == ["d1-keynote"]
    missing = runner.invoke(app, ["unpublish", EVENT_ID, "d1-talk", "--to", url], env=env)
    assert missing.exit_code == 8 and "no published VOD" in missing.output


def test_publish_default_store_is_data_dir(
    vod_dir: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    result = CliRunner().invoke(app, ["publish", str(vod_dir)], env=env)
    assert result.exit_code == 0, result.output
    store = LocalStorage(tmp_path / "data" / "public")
    assert read_events(store)["events"][0]["count"] == 2


def test_publish_to_s3(vod_dir: Path, moto_s3: MotoS3, bucket: str, env: dict[str, str]) -> None:
    env = {**env, "STREAMER_S3_ENDPOINT_URL": moto_s3.endpoint, "STREAMER_S3_PART_SIZE_MB": "5"}
    runner = CliRunner()
    url = f"s3://{bucket}/site/vods"
    result = runner.invoke(app, ["publish", str(vod_dir), "--to", url], env=env)
    assert result.exit_code == 0, result.output
    store = S3Storage(bucket, "site/vods", endpoint_url=moto_s3.endpoint, path_style=True)
    index = read_index(store, EVENT_ID)
    assert index is not None and len(index["items"]) == 2
    assert index["items"][0]["media_url"].startswith(f"{moto_s3.endpoint}/{bucket}/site/vods/")
    assert assert_sound(store) == 2
    raw = moto_s3.client().get_object(Bucket=bucket, Key=f"site/vods/{EVENT_ID}/index.json")
    assert raw["CacheControl"] == "public, max-age=60"
    assert json.loads(raw["Body"].read())["event"]["title"]["ko"].startswith("세종")
    gone = runner.invoke(app, ["unpublish", EVENT_ID, "d1-keynote", "--from", url], env=env)
    assert gone.exit_code == 0, gone.output
    assert store.head(f"{EVENT_ID}/d1-keynote.mp4") is None
    assert assert_sound(store) == 1


def test_bad_url_and_missing_dir(tmp_path: Path, env: dict[str, str]) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["publish", str(tmp_path), "--to", "ftp://x/y"], env=env)
    assert bad.exit_code == 2 and "unsupported storage URL" in bad.output
    missing = runner.invoke(app, ["publish", str(tmp_path / "nope")], env=env)
    assert missing.exit_code == 8
