"""The Storage interface. Backends: ``local`` (default), ``s3``, ``memory`` (tests).

Keys are relative, ``/``-separated, and never contain ``..`` (see :func:`check_key`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from streamer.errors import StorageError

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def check_key(key: str) -> str:
    """Refuse keys that could escape the store (absolute, ``..``, odd characters)."""
    parts = key.split("/")
    if not _KEY.match(key) or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid storage key {key!r}")
    return key


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None = None
    content_type: str | None = None
    etag: str | None = None
    checksum: str | None = None  # the store's own checksum as it reports it (S3), base64
    cache_control: str | None = None


@runtime_checkable
class Storage(Protocol):
    """Object storage as publish needs it. Every method raises StorageError on failure."""

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
        """Store a file, verified against ``sha256``; ``progress`` gets bytes sent so far."""
        ...

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str
    ) -> ObjectInfo: ...

    def get_bytes(self, key: str) -> bytes: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def url(self, key: str) -> str: ...


@runtime_checkable
class Sweeper(Protocol):
    """A store that can remove what a killed upload left behind (local temp files, S3
    multipart uploads)."""

    def sweep_stale(self, prefix: str, older_than: datetime) -> list[str]:
        """Remove the leftovers of uploads to keys starting with ``prefix`` that began before
        ``older_than``; the keys they were meant for."""
        ...


@runtime_checkable
class ExpiringUrls(Protocol):
    """A store whose public URLs expire (presigned GETs): the catalog renews them in time."""

    def url_lifetime_s(self) -> float | None:
        """How long a URL from ``url`` stays valid; None when it never expires."""
        ...


def url_lifetime(storage: Storage) -> float | None:
    """How long ``storage``'s URLs stay valid; None for a store whose URLs never expire."""
    return storage.url_lifetime_s() if isinstance(storage, ExpiringUrls) else None
