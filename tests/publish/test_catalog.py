"""Publishing split output, against every backend: order, records, idempotence, unpublish."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest

from streamer.errors import NotFoundError, StorageError
from streamer.publish import catalog, indexes
from streamer.publish.catalog import (
    Publisher,
    cache_control_for,
    read_events,
    read_index,
    record_key,
)
from streamer.publish.local import LocalStorage
from streamer.publish.memory import MemoryStorage
from streamer.publish.storage import Storage
from streamer.timeutil import now
from streamer.vod import VodRecord

from .conftest import EVENT, EVENT_ID, MotoS3, make_s3, sha256_of, write_session
from .helpers import Watched, assert_sound

RECORD_FIELDS = [
    "id", "event_id", "session_id", "title", "speakers", "track", "language", "start", "end",
    "scheduled_start", "scheduled_end", "duration_s", "media_url", "thumbnail_url",
    "size_bytes", "sha256", "gaps", "source_url", "published_at", "version",
]  # fmt: skip


def test_publish_dir_writes_layout_records_index(storage: Storage, vod_dir: Path) -> None:
    watched = Watched(storage)
    records = Publisher(watched).publish_dir(vod_dir)
    assert [r.session_id for r in records] == ["d1-keynote", "d1-talk"]
    keys = set(storage.list())
    for sid in ("d1-keynote", "d1-talk"):
        assert {f"{EVENT_ID}/{sid}.{ext}" for ext in ("mp4", "jpg", "json")} <= keys
    assert {f"{EVENT_ID}/index.json", f"{EVENT_ID}/feed.xml", "events.json"} <= keys
    # the order: both media, verified, before any record; records before the index
    order = [k for _, k in watched.writes]
    assert order.index(f"{EVENT_ID}/d1-keynote.json") > order.index(f"{EVENT_ID}/d1-keynote.mp4")
    assert order.index(f"{EVENT_ID}/index.json") > order.index(f"{EVENT_ID}/d1-talk.json")
    assert order.index("events.json") > order.index(f"{EVENT_ID}/index.json")
    assert watched.checks == len(watched.writes)  # the invariant held after every write

    index = read_index(storage, EVENT_ID)
    assert index is not None
    assert index["event"]["title"] == EVENT["title"] and index["generated_at"]
    items = index["items"]
    assert [i["session_id"] for i in items] == ["d1-keynote", "d1-talk"]  # sorted by start
    for item in items:
        for name in RECORD_FIELDS:
            assert name in item, name
        assert item["version"] == 1 and item["published_at"]
        assert item["sha256"] == sha256_of(vod_dir / EVENT_ID / f"{item['session_id']}.mp4")
        assert item["media_url"] == storage.url(f"{EVENT_ID}/{item['session_id']}.mp4")
        assert item["gaps"][0]["duration_s"] == 1.0
        stored = json.loads(storage.get_bytes(record_key(EVENT_ID, item["session_id"])))
        assert stored == item
    assert assert_sound(storage) == 2
    # bytes served are the bytes cut
    media = storage.get_bytes(f"{EVENT_ID}/d1-talk.mp4")
    assert media == (vod_dir / EVENT_ID / "d1-talk.mp4").read_bytes()

    events = read_events(storage)
    assert events["generated_at"]
    (entry,) = events["events"]
    assert entry["id"] == EVENT_ID and entry["count"] == 2
    assert entry["title"] == EVENT["title"] and entry["timezone"] == "Asia/Seoul"
    assert entry["index_url"] == storage.url(f"{EVENT_ID}/index.json")
    assert entry["updated_at"] == max(i["updated_at"] for i in items)


def test_korean_titles_round_trip(storage: Storage, vod_dir: Path, media_cache: Path) -> None:
    title = {"ko": "스마트시티와 탄소중립: 세종의 길 「특별」", "en": "Smart city & net zero"}
    write_session(vod_dir, "d2-panel", media_cache / "a.mp4", start="14:00", title=title)
    Publisher(storage).publish_dir(vod_dir)
    raw = storage.get_bytes(record_key(EVENT_ID, "d2-panel"))
    assert "스마트시티와 탄소중립".encode() in raw  # UTF-8 in the body, not \u escapes
    assert json.loads(raw)["title"] == title
    index = read_index(storage, EVENT_ID)
    assert index is not None
    assert [i["title"] for i in index["items"] if i["session_id"] == "d2-panel"] == [title]
    assert read_events(storage)["events"][0]["title"]["ko"] == EVENT["title"]["ko"]


def test_feed_is_valid_rss_with_enclosures(storage: Storage, vod_dir: Path) -> None:
    Publisher(storage).publish_dir(vod_dir)
    root = ET.fromstring(storage.get_bytes(f"{EVENT_ID}/feed.xml"))
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == EVENT["title"]["en"]
    items = channel.findall("item")
    assert len(items) == 2
    assert items[0].findtext("title") == "세션 d1-talk"  # newest first, in the VOD's language
    for item in items:
        enclosure = item.find("enclosure")
        assert enclosure is not None and enclosure.get("type") == "video/mp4"
        sid = (item.findtext("guid") or "").split(".", 1)[1].split("#")[0]
        assert enclosure.get("url") == storage.url(f"{EVENT_ID}/{sid}.mp4")
        size = len(storage.get_bytes(f"{EVENT_ID}/{sid}.mp4"))
        assert enclosure.get("length") == str(size)
        assert item.findtext("pubDate", "").endswith("+0900")


def test_republish_unchanged_uploads_nothing(
    storage: Storage, vod_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Publisher(storage).publish_dir(vod_dir)
    before = {k: storage.head(k) for k in storage.list()}
    index_before = storage.get_bytes(f"{EVENT_ID}/index.json")
    later = now() + timedelta(hours=1)  # a re-publish that wrote anything would stamp this
    monkeypatch.setattr(catalog, "now", lambda: later)
    monkeypatch.setattr(indexes, "now", lambda: later)
    watched = Watched(storage)
    again = Publisher(watched)
    records = again.publish_dir(vod_dir)
    assert watched.writes == [] and again.report.uploaded == []
    assert [r.version for r in records] == [1, 1]
    assert {k: storage.head(k) for k in storage.list()} == before  # same ETags and sizes
    assert storage.get_bytes(f"{EVENT_ID}/index.json") == index_before


def test_changed_media_bumps_version(storage: Storage, vod_dir: Path, media_cache: Path) -> None:
    first = {r.session_id: r for r in Publisher(storage).publish_dir(vod_dir)}
    # a re-cut: d1-talk gets other bytes
    shutil.copyfile(media_cache / "a.mp4", vod_dir / EVENT_ID / "d1-talk.mp4")
    watched = Watched(storage)
    records = {r.session_id: r for r in Publisher(watched).publish_dir(vod_dir)}
    talk = records["d1-talk"]
    assert talk.version == 2 and first["d1-talk"].version == 1
    assert talk.sha256 == sha256_of(media_cache / "a.mp4") != first["d1-talk"].sha256
    assert talk.published_at == first["d1-talk"].published_at
    assert talk.updated_at is not None and talk.updated_at >= (first["d1-talk"].updated_at or "")
    assert records["d1-keynote"].version == 1
    written = [k for _, k in watched.writes]
    assert f"{EVENT_ID}/d1-talk.mp4" in written
    assert f"{EVENT_ID}/d1-talk.jpg" not in written  # the thumbnail did not change
    assert not any(k.startswith(f"{EVENT_ID}/d1-keynote") for k in written)
    assert storage.get_bytes(f"{EVENT_ID}/d1-talk.mp4") == (media_cache / "a.mp4").read_bytes()
    index = read_index(storage, EVENT_ID)
    assert index is not None
    assert {i["session_id"]: i["version"] for i in index["items"]} == {
        "d1-keynote": 1,
        "d1-talk": 2,
    }
    # changed metadata alone is a change too
    meta = vod_dir / EVENT_ID / "d1-keynote.json"
    doc = json.loads(meta.read_text("utf-8"))
    doc["title"]["en"] = "Opening keynote (corrected)"
    meta.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    records = {r.session_id: r for r in Publisher(storage).publish_dir(vod_dir)}
    assert records["d1-keynote"].version == 2 and records["d1-talk"].version == 2


def test_unpublish_removes_index_entry_before_objects(storage: Storage, vod_dir: Path) -> None:
    Publisher(storage).publish_dir(vod_dir)
    watched = Watched(storage)
    Publisher(watched).unpublish(EVENT_ID, "d1-talk")
    assert watched.checks == len(watched.writes)  # the index never named a deleted object
    order = [(op, k) for op, k in watched.writes]
    assert order[0] == ("put_bytes", f"{EVENT_ID}/index.json")  # the entry goes first
    deletes = [k for op, k in order if op == "delete"]
    assert deletes == [f"{EVENT_ID}/d1-talk.{ext}" for ext in ("json", "mp4", "jpg")]
    assert order.index(("delete", deletes[0])) > order.index(("put_bytes", "events.json"))
    assert not any(k.startswith(f"{EVENT_ID}/d1-talk") for k in storage.list())
    index = read_index(storage, EVENT_ID)
    assert index is not None
    assert [i["session_id"] for i in index["items"]] == ["d1-keynote"]
    assert read_events(storage)["events"][0]["count"] == 1
    feed = ET.fromstring(storage.get_bytes(f"{EVENT_ID}/feed.xml"))
    assert len(feed.findall("channel/item")) == 1
    with pytest.raises(NotFoundError):
        Publisher(storage).unpublish(EVENT_ID, "d1-talk")
    Publisher(Watched(storage)).unpublish(EVENT_ID, "d1-keynote")
    assert read_events(storage)["events"] == []
    assert assert_sound(storage) == 0


def test_interrupted_publish_never_exposes_missing_media(storage: Storage, vod_dir: Path) -> None:
    """A failure at any write leaves a sound index; the next run completes the publish."""
    Publisher(storage).publish_session(vod_dir, EVENT_ID, "d1-keynote")
    failed_at: list[str] = []

    def fail_on(target: str) -> None:
        def before(op: str, key: str) -> None:
            if key == target:
                failed_at.append(key)
                raise StorageError(f"injected failure at {key}")

        with pytest.raises(StorageError, match="injected"):
            Publisher(Watched(storage, before)).publish_session(vod_dir, EVENT_ID, "d1-talk")
        assert assert_sound(storage) >= 1

    for target in ("d1-talk.jpg", "d1-talk.json", "index.json", "events.json", "feed.xml"):
        fail_on(f"{EVENT_ID}/{target}" if target != "events.json" else target)
        index = read_index(storage, EVENT_ID)
        assert index is not None
        listed = [i["session_id"] for i in index["items"]]
        # the record names the talk only once its media are in place
        assert listed in (["d1-keynote"], ["d1-keynote", "d1-talk"])
    assert len(failed_at) == 5
    Publisher(Watched(storage)).publish_session(vod_dir, EVENT_ID, "d1-talk")
    index = read_index(storage, EVENT_ID)
    assert index is not None and len(index["items"]) == 2


def test_dry_run_writes_nothing(storage: Storage, vod_dir: Path) -> None:
    publisher = Publisher(storage, dry_run=True)
    records = publisher.publish_dir(vod_dir)
    assert len(records) == 2 and storage.list() == []
    assert f"{EVENT_ID}/d1-talk.mp4" in publisher.report.uploaded
    assert publisher.report.bytes_uploaded > 0


def test_memory_backend_and_bad_input(tmp_path: Path, vod_dir: Path) -> None:
    store = MemoryStorage()
    Publisher(store).publish_dir(vod_dir)
    puts = store.puts
    Publisher(store).publish_dir(vod_dir)
    assert store.puts == puts  # nothing rewritten
    with pytest.raises(NotFoundError):
        Publisher(store).publish_session(vod_dir, EVENT_ID, "no-such-session")
    with pytest.raises(NotFoundError):
        Publisher(store).publish_dir(tmp_path / "missing")
    # a record that names another session is refused
    meta = vod_dir / EVENT_ID / "d1-talk.json"
    doc = json.loads(meta.read_text("utf-8"))
    doc["session_id"] = "d1-other"
    meta.write_text(json.dumps(doc), "utf-8")
    with pytest.raises(StorageError):
        Publisher(store).publish_session(vod_dir, EVENT_ID, "d1-talk")
    record = VodRecord.model_validate_json(store.get_bytes(record_key(EVENT_ID, "d1-keynote")))
    assert record.version == 1


def test_local_media_served_from_root(tmp_path: Path, vod_dir: Path) -> None:
    store = LocalStorage(tmp_path / "public", base_url="https://cdn.example.org/vod")
    Publisher(store).publish_dir(vod_dir)
    index = read_index(store, EVENT_ID)
    assert index is not None
    assert index["items"][0]["media_url"] == (
        f"https://cdn.example.org/vod/{EVENT_ID}/d1-keynote.mp4"
    )
    assert (tmp_path / "public" / EVENT_ID / "d1-keynote.mp4").is_file()


def test_cache_control_matches_what_publish_sends(
    moto_s3: MotoS3, bucket: str, vod_dir: Path
) -> None:
    store = make_s3(moto_s3, bucket)
    Publisher(store).publish_dir(vod_dir)
    client = moto_s3.client()
    for key in store.list():
        head = client.head_object(Bucket=bucket, Key=f"vods/{key}")
        assert head["CacheControl"] == cache_control_for(key), key
        assert head["Metadata"].keys() <= {"sha256"}  # nothing non-ASCII in headers
    assert cache_control_for(f"{EVENT_ID}/d1-talk.mp4") == "public, max-age=86400"
    assert cache_control_for(f"{EVENT_ID}/index.json") == "public, max-age=60"


def test_rebuild_leaves_out_records_without_media(storage: Storage, vod_dir: Path) -> None:
    assert read_events(storage) == {"events": [], "generated_at": None}
    assert read_index(storage, EVENT_ID) is None
    Publisher(storage).publish_dir(vod_dir)
    storage.delete(f"{EVENT_ID}/d1-keynote.mp4")  # lost behind our back
    index = Publisher(storage).rebuild_index(EVENT_ID)
    assert [i["session_id"] for i in index["items"]] == ["d1-talk"]
    assert index["event"]["title"] == EVENT["title"]  # kept from the previous index
    assert assert_sound(storage) == 1
    # publishing again puts the media back, and the VOD returns to the index
    Publisher(storage).publish_dir(vod_dir)
    index2 = read_index(storage, EVENT_ID)
    assert index2 is not None and len(index2["items"]) == 2
    assert assert_sound(storage) == 2
