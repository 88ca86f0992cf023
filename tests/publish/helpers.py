"""Test helpers: a storage proxy that checks the index after every write, and counts writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamer.publish.catalog import EVENTS, read_events, read_index, record_key
from streamer.publish.storage import ObjectInfo, Storage

from .conftest import resolves


def assert_sound(storage: Storage) -> int:
    """Every URL in every index (and in events.json) leads to an object; returns items seen."""
    seen = 0
    events = read_events(storage)
    for entry in events["events"]:
        assert resolves(storage, entry["index_url"]), entry
    event_ids = {k.split("/")[0] for k in storage.list() if k.endswith("/index.json")}
    for event_id in event_ids:
        index = read_index(storage, event_id)
        assert index is not None
        for item in index["items"]:
            assert storage.head(record_key(item["event_id"], item["session_id"])) is not None
            assert resolves(storage, item["media_url"]), item["media_url"]
            if item.get("thumbnail_url"):
                assert resolves(storage, item["thumbnail_url"]), item["thumbnail_url"]
            seen += 1
    return seen


class Watched:
    """Delegates to ``inner``; ``before(op, key)`` runs first, and the invariant after each write.

    Writes are counted, so a test can tell that a re-publish wrote nothing."""

    def __init__(
        self,
        inner: Storage,
        before: Callable[[str, str], None] | None = None,
        check: bool = True,
        check_on_failure: bool = True,
    ) -> None:
        self.inner = inner
        self.before = before
        self.check = check
        # off when the failure is an outage: the check itself could not reach the store then
        self.check_on_failure = check_on_failure
        self.writes: list[tuple[str, str]] = []
        self.checks = 0

    def _after(self) -> None:
        if self.check:
            assert_sound(self.inner)
            self.checks += 1

    def _hook(self, op: str, key: str) -> None:
        if self.before is not None:
            self.before(op, key)

    def _run(self, op: str, key: str, fn: Callable[[], Any]) -> Any:
        self._hook(op, key)
        self.writes.append((op, key))
        try:
            result = fn()
        except BaseException:
            if self.check_on_failure:
                self._after()
            raise
        self._after()
        return result

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str,
        cache_control: str,
        sha256: str,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        info: ObjectInfo = self._run(
            "put_file",
            key,
            lambda: self.inner.put_file(
                key,
                path,
                content_type=content_type,
                cache_control=cache_control,
                sha256=sha256,
                progress=progress,
            ),
        )
        return info

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str
    ) -> ObjectInfo:
        info: ObjectInfo = self._run(
            "put_bytes",
            key,
            lambda: self.inner.put_bytes(
                key, data, content_type=content_type, cache_control=cache_control
            ),
        )
        return info

    def delete(self, key: str) -> None:
        self._run("delete", key, lambda: self.inner.delete(key))

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def head(self, key: str) -> ObjectInfo | None:
        return self.inner.head(key)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)

    def url(self, key: str) -> str:
        return self.inner.url(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


__all__ = ["EVENTS", "Watched", "assert_sound"]
