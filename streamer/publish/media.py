"""A VOD's media file (MP4 or thumbnail) into storage: found already there, or uploaded and
checked after the upload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streamer.errors import StorageError
from streamer.files import file_stat
from streamer.publish.layout import CACHE_MEDIA
from streamer.publish.storage import ObjectInfo, Storage

Progress = Callable[[str, int, int], None]


def already_stored(storage: Storage, key: str, sha: str, size: int, known: str | None) -> bool:
    """``key`` holds the file: same size and sha256 (or, for a store that keeps no sha256,
    the sha256 the existing record ``known``s)."""
    info = storage.head(key)
    return (
        info is not None
        and info.size == size
        and (info.sha256 == sha or (info.sha256 is None and known == sha))
    )


def upload_media(
    storage: Storage,
    key: str,
    path: Path,
    sha: str,
    stat: tuple[int, int],
    content_type: str,
    on_progress: Progress | None,
) -> ObjectInfo:
    """Upload ``path`` to ``key`` and check it; ``stat`` is (size, mtime_ns) from when
    ``sha`` was computed."""
    size = stat[0]

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(key, done, size)

    progress(0)
    stored = storage.put_file(
        key,
        path,
        content_type=content_type,
        cache_control=CACHE_MEDIA,
        sha256=sha,
        progress=progress,
    )
    if file_stat(path) != stat:
        # sha was computed before; bytes that went up may not be the bytes hashed
        raise StorageError(f"{path} changed while publishing; publish again")
    # the backend verifies; a second look here guards against a backend that does not
    check = storage.head(key)
    if check is None or check.size != size or check.sha256 not in (None, sha):
        raise StorageError(f"{key}: verification failed after upload ({check})")
    progress(size)
    return stored
