"""Two publishes of one event at once keep both VODs in the index; one damaged object in the
store does not block the event's other VODs."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from streamer.publish.catalog import Publisher, read_index
from streamer.publish.local import LocalStorage
from streamer.publish.storage import ObjectInfo
from streamer.vod import VodRecord, dump


def write_vod(vods: Path, sid: str) -> None:
    data = (sid * 1000).encode()
    (vods / f"{sid}.mp4").write_bytes(data)
    rec = VodRecord(
        id=f"ev.{sid}",
        event_id="ev",
        session_id=sid,
        title={"en": sid, "ko": f"세션 {sid}"},
        start="2021-04-27T10:00:00+09:00",
        end="2021-04-27T10:40:00+09:00",
        scheduled_start="2021-04-27T10:00:00+09:00",
        scheduled_end="2021-04-27T10:40:00+09:00",
        duration_s=2400,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    (vods / f"{sid}.json").write_text(json.dumps(dump(rec)), "utf-8")


def test_overlapping_publishes_keep_both_in_the_index(tmp_path: Path) -> None:
    vods = tmp_path / "vods" / "ev"
    vods.mkdir(parents=True)
    write_vod(vods, "a")
    write_vod(vods, "b")
    store = LocalStorage(tmp_path / "public")
    real_list, real_put = store.list, store.put_bytes
    a_listed, b_recorded = threading.Event(), threading.Event()

    def list_then_wait(prefix: str = "") -> list[str]:
        keys = real_list(prefix)
        if prefix == "ev/" and threading.current_thread().name == "A" and not a_listed.is_set():
            # A has listed; B's record now lands before A writes the index. Unguarded, A
            # would write last and drop b; guarded, B waits for A, then lists both
            a_listed.set()
            assert b_recorded.wait(30)
        return keys

    def put_and_tell(key: str, data: bytes, **kw: str) -> ObjectInfo:
        info = real_put(key, data, **kw)
        if key == "ev/b.json":
            b_recorded.set()
        return info

    store.list = list_then_wait  # type: ignore[method-assign]
    store.put_bytes = put_and_tell  # type: ignore[method-assign]

    def publish(sid: str) -> None:
        Publisher(store).publish_session(tmp_path / "vods", "ev", sid)

    a = threading.Thread(target=publish, args=("a",), name="A")
    b = threading.Thread(target=publish, args=("b",), name="B")
    a.start()
    assert a_listed.wait(30)
    b.start()
    a.join()
    b.join()
    index = read_index(store, "ev")
    assert index is not None
    assert [i["session_id"] for i in index["items"]] == ["a", "b"]


def test_a_damaged_record_does_not_block_the_others(tmp_path: Path) -> None:
    vods = tmp_path / "vods" / "ev"
    vods.mkdir(parents=True)
    write_vod(vods, "a")
    store = LocalStorage(tmp_path / "public")
    store.put_bytes(
        "ev/old.json",
        b'{"id": "ev.old"}',
        content_type="application/json",
        cache_control="no-cache",
    )
    store.put_bytes("ev/old.mp4", b"zz", content_type="video/mp4", cache_control="no-cache")
    store.put_bytes(
        "events.json", b"{not json", content_type="application/json", cache_control="no-cache"
    )
    Publisher(store).publish_session(tmp_path / "vods", "ev", "a")
    index = read_index(store, "ev")
    assert index is not None and [i["session_id"] for i in index["items"]] == ["a"]
    events = json.loads(store.get_bytes("events.json"))
    assert [e["id"] for e in events["events"]] == ["ev"]
    # the damaged object itself is left alone for a person to look at
    assert store.get_bytes("ev/old.json") == b'{"id": "ev.old"}'
