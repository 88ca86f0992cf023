"""Presigned URLs in the catalog are renewed on a timer before they expire (issue 15, 2.4).

moto does not enforce a presigned URL's expiry, so validity is judged from the URL's own
``X-Amz-Date`` and ``X-Amz-Expires`` against an injected clock (botocore signs at that clock's
time), and every URL is also fetched from moto to show that it leads to its object.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from streamer.config import Settings
from streamer.pipeline.orchestrator import URL_REFRESH_JOB, Orchestrator
from streamer.publish.catalog import (
    EVENTS,
    Publisher,
    read_events,
    read_index,
    read_record,
    url_refresh_interval_s,
)
from streamer.publish.local import LocalStorage
from streamer.publish.storage import ExpiringUrls, Storage, url_lifetime

from .conftest import EVENT_ID, MotoS3, make_s3

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def botocore_now(self, remove_tzinfo: bool = True) -> datetime:
        return self.t.replace(tzinfo=None) if remove_tzinfo else self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    # botocore takes the signing time from this function only (its own signers, or the CRT's
    # when awscrt is installed)
    monkeypatch.setattr("botocore.auth.get_current_datetime", c.botocore_now)
    monkeypatch.setattr("botocore.crt.auth.get_current_datetime", c.botocore_now, raising=False)
    yield c


def valid_at(url: str, at: datetime) -> bool:
    q = parse_qs(urlsplit(url).query)
    signed = datetime.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed <= at < signed + timedelta(seconds=int(q["X-Amz-Expires"][0]))


def catalog_urls(storage: Storage) -> list[str]:
    """Every URL a reader can find: events.json, the index, each record, the feed."""
    urls: list[str] = []
    for entry in read_events(storage)["events"]:
        urls += [entry["index_url"], entry["feed_url"]]
    index = read_index(storage, EVENT_ID)
    assert index is not None and len(index["items"]) == 2
    for item in index["items"]:
        record = read_record(storage, EVENT_ID, item["session_id"])
        assert record is not None
        urls += [item["media_url"], item["thumbnail_url"]]
        urls += [record.media_url or "", record.thumbnail_url or ""]
    feed = storage.get_bytes(f"{EVENT_ID}/feed.xml").decode()
    urls += [u.replace("&amp;", "&") for u in _enclosures(feed)]
    return urls


def _enclosures(feed: str) -> list[str]:
    return [part.split('"', 1)[0] for part in feed.split('<enclosure url="')[1:]]


def fetches(url: str) -> bool:
    return httpx.get(url, headers={"Range": "bytes=0-0"}, timeout=10).status_code in (200, 206)


def test_urls_stay_valid_with_a_60s_expiry(
    moto_s3: MotoS3, bucket: str, vod_dir: Path, clock: Clock
) -> None:
    store = make_s3(moto_s3, bucket, presign=True, presign_expires_s=60)
    assert isinstance(store, ExpiringUrls) and url_lifetime(store) == 60
    interval = url_refresh_interval_s(store)
    assert interval == 20
    every = int(interval)
    Publisher(store, refresh_urls=True).publish_dir(vod_dir)
    first = catalog_urls(store)
    assert all(valid_at(u, T0) for u in first), [u for u in first if not valid_at(u, T0)]
    assert not any(valid_at(u, T0 + timedelta(seconds=61)) for u in first)  # they do expire

    versions = {i["session_id"]: i["version"] for i in read_index(store, EVENT_ID)["items"]}  # type: ignore[index]
    due = T0  # the timer's first run is at start, then every ``every`` seconds
    refreshes = 0
    for second in range(0, 150):
        clock.t = T0 + timedelta(seconds=second)
        if clock.t >= due:
            Publisher(store).refresh_all_urls()
            refreshes += 1
            due += timedelta(seconds=every)
        # look right after a refresh, halfway and at the last second before the next one
        if (second % every) not in (0, every // 2, every - 1):
            continue
        urls = catalog_urls(store)
        stale = [u for u in urls if not valid_at(u, clock.t)]
        assert not stale, (second, stale[:2])
        if second % 50 == 19:  # a viewer (and a site's fetcher) really gets the objects
            assert all(fetches(u) for u in urls), second
    assert refreshes == 8
    items = read_index(store, EVENT_ID)["items"]  # type: ignore[index]
    # fresh URLs are no new version of the VOD
    assert {i["session_id"]: i["version"] for i in items} == versions
    assert json.loads(store.get_bytes(EVENTS))["events"][0]["count"] == 2


def test_refresh_is_idempotent_and_a_noop_where_urls_never_expire(
    moto_s3: MotoS3, bucket: str, vod_dir: Path, tmp_path: Path, clock: Clock
) -> None:
    # presigned: at the same instant a second refresh writes nothing
    store = make_s3(moto_s3, bucket, presign=True, presign_expires_s=60)
    Publisher(store, refresh_urls=True).publish_dir(vod_dir)
    clock.t = T0 + timedelta(seconds=30)
    assert Publisher(store).refresh_all_urls() == [EVENT_ID]
    again = Publisher(store)
    again.refresh_all_urls()
    assert again.report.uploaded == []
    # a bucket with plain URLs, a CDN in front, a local directory: nothing expires
    for plain in (
        make_s3(moto_s3, bucket),
        make_s3(moto_s3, bucket, presign=True, public_base_url="https://cdn.example.org/v"),
        LocalStorage(tmp_path / "public", base_url="/media"),
    ):
        assert url_refresh_interval_s(plain) is None
    local = LocalStorage(tmp_path / "public", base_url="/media")
    Publisher(local).publish_dir(vod_dir)
    noop = Publisher(local)
    noop.refresh_all_urls()
    assert noop.report.uploaded == []


def test_the_service_plans_the_refresh_timer(
    settings: Settings, moto_s3: MotoS3, bucket: str
) -> None:
    presigned = settings.model_copy(
        update={
            "storage": f"s3://{bucket}/vods",
            "s3_endpoint_url": moto_s3.endpoint,
            "s3_path_style": True,
            "s3_presign": True,
            "s3_presign_expires_s": 60,
        }
    )

    async def planned(s: Settings) -> float | None:
        orch = Orchestrator(s)
        await orch.start()
        try:
            assert orch._scheduler is not None
            job = orch._scheduler.get_job(URL_REFRESH_JOB)
            return None if job is None else float(job.trigger.interval.total_seconds())
        finally:
            await orch.shutdown()

    assert asyncio.run(planned(presigned)) == 20
    assert asyncio.run(planned(settings)) is None  # local storage: no timer
