"""File helpers every stage shares: atomic writes, file hashes and the size+mtime stamp (one
implementation each).

An atomic write goes to a hidden temporary file in the target's directory, is flushed to disk
and renamed over the target, so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from streamer.errors import StorageError

CHUNK = 1024 * 1024


@contextlib.contextmanager
def atomic_file(
    path: Path, *, mode: int | None = None, sync_dir: bool = False
) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through; it replaces ``path`` only if the block ends
    without an exception. ``mode`` sets the permissions (``mkstemp`` makes 0600);
    ``sync_dir`` also makes the rename itself durable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_dir:
        _fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path, mode=mode) as fh:
        fh.write(data)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


def file_stat(path: Path) -> tuple[int, int]:
    """(size, mtime in ns): a file changed while it was read or uploaded shows up here."""
    try:
        st = path.stat()
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    return st.st_size, st.st_mtime_ns
