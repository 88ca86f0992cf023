"""MemoryStorage: objects in a dict, for unit tests (the real backends are tested too)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamer.errors import NotFound, StorageError
from streamer.publish.storage import ObjectInfo, check_key


@dataclass(frozen=True)
class _Object:
    data: bytes
    content_type: str
    cache_control: str
    sha256: str


class MemoryStorage:
    """Thread-safe in-memory store; ``puts`` counts writes so tests can see idempotence."""

    def __init__(self, base_url: str = "memory://") -> None:
        self.base_url = base_url.rstrip("/")
        self.objects: dict[str, _Object] = {}
        self.puts = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStorage({len(self.objects)} objects)"

    def url(self, key: str) -> str:
        return f"{self.base_url}/{check_key(key)}"

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
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise StorageError(f"{key}: sha256 of {path} is {actual}, expected {sha256}")
        if progress is not None:
            progress(len(data))
        return self._put(key, data, content_type, cache_control, actual)

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str
    ) -> ObjectInfo:
        return self._put(key, data, content_type, cache_control, hashlib.sha256(data).hexdigest())

    def get_bytes(self, key: str) -> bytes:
        check_key(key)
        with self._lock:
            obj = self.objects.get(key)
        if obj is None:
            raise NotFound(f"no object {key}")
        return obj.data

    def head(self, key: str) -> ObjectInfo | None:
        check_key(key)
        with self._lock:
            obj = self.objects.get(key)
        return None if obj is None else _info(key, obj)

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self.objects.pop(key, None)

    def list(self, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(k for k in self.objects if k.startswith(prefix))

    def _put(
        self, key: str, data: bytes, content_type: str, cache_control: str, sha256: str
    ) -> ObjectInfo:
        check_key(key)
        obj = _Object(data, content_type, cache_control, sha256)
        with self._lock:
            self.objects[key] = obj
            self.puts += 1
        return _info(key, obj)


def _info(key: str, obj: _Object) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=len(obj.data),
        sha256=obj.sha256,
        content_type=obj.content_type,
        etag=obj.sha256[:32],
    )
