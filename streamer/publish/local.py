"""LocalStorage: a directory as object storage, the embedded default (the API serves it).

Every write goes to a hidden temporary file in the target directory, is flushed to disk and
renamed over the key, so a reader sees the old object or the new one, never half of one.
"""

from __future__ import annotations

import builtins
import hashlib
import mimetypes
import os
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from streamer.errors import NotFound, StorageError
from streamer.files import atomic_file
from streamer.publish.storage import ObjectInfo, check_key

_CHUNK = 1024 * 1024
# streamer.files.atomic_file's temp names: ".{name}." + mkstemp's 8 characters + ".tmp"
_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")


class LocalStorage:
    """Objects are files under ``root``; ``url(key)`` is ``{base_url}/{key}``."""

    def __init__(self, root: Path, base_url: str = "/media") -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/")
        # sha256 of files this process wrote, keyed by (path, size, mtime_ns): hashing a large
        # file again on every head() would cost a full read.
        self._sha: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r}, base_url={self.base_url!r})"

    def path_for(self, key: str) -> Path:
        """The file of ``key``; StorageError for keys that would leave ``root``."""
        check_key(key)
        path = (self.root / key).resolve()
        if path != self.root and self.root not in path.parents:
            raise StorageError(f"invalid storage key {key!r}")
        return path

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
        target = self.path_for(key)
        digest = hashlib.sha256()
        done = 0
        try:
            with open(path, "rb") as src, atomic_file(target, mode=0o644, sync_dir=True) as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done)
                # The copy is the verification: the bytes written are the bytes hashed.
                if digest.hexdigest() != sha256:
                    raise StorageError(
                        f"{key}: sha256 of {path} is {digest.hexdigest()}, expected {sha256}"
                    )
        except OSError as exc:
            raise StorageError(f"cannot store {key}: {exc}") from exc
        return self._remember(key, target, sha256, content_type)

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str
    ) -> ObjectInfo:
        target = self.path_for(key)
        try:
            with atomic_file(target, mode=0o644, sync_dir=True) as dst:
                dst.write(data)
        except OSError as exc:
            raise StorageError(f"cannot store {key}: {exc}") from exc
        return self._remember(key, target, hashlib.sha256(data).hexdigest(), content_type)

    def get_bytes(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"no object {key}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc}") from exc

    def head(self, key: str) -> ObjectInfo | None:
        path = self.path_for(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {key}: {exc}") from exc
        if not path.is_file():
            return None
        with self._lock:
            sha = self._sha.get((str(path), st.st_size, st.st_mtime_ns))
        return ObjectInfo(
            key=key,
            size=st.st_size,
            sha256=sha,
            content_type=mimetypes.guess_type(path.name)[0],
            etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
        )

    def delete(self, key: str) -> None:
        """Remove ``key`` (absent is fine) and the directories it leaves empty."""
        path = self.path_for(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break  # not empty (or gone): stop climbing
            parent = parent.parent

    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix`` (a string prefix, as in S3), sorted."""
        if not self.root.is_dir():
            return []
        keys: list[str] = []
        try:
            for dirpath, dirnames, filenames in os.walk(self.root):
                # hidden names are temporary files or foreign: never objects
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                rel = Path(dirpath).relative_to(self.root).as_posix()
                base = "" if rel == "." else rel + "/"
                if prefix and not (base.startswith(prefix) or prefix.startswith(base)):
                    dirnames[:] = []
                    continue
                keys.extend(
                    base + name
                    for name in filenames
                    if not name.startswith(".") and (base + name).startswith(prefix)
                )
        except OSError as exc:
            raise StorageError(f"cannot list {prefix!r}: {exc}") from exc
        return sorted(keys)

    def sweep_stale(self, prefix: str, older_than: datetime) -> builtins.list[str]:
        """Remove temp files of writes to keys under ``prefix`` last touched before
        ``older_than`` (a write killed mid-way leaves one, mode 0600)."""
        if not self.root.is_dir():
            return []
        cutoff = older_than.timestamp()
        gone: builtins.list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else rel + "/"
            for name in filenames:
                m = _TEMP.match(name)
                if m is None or not (base + m["name"]).startswith(prefix):
                    continue
                path = Path(dirpath) / name
                try:
                    if path.lstat().st_mtime < cutoff:
                        path.unlink()
                        gone.append(base + m["name"])
                except FileNotFoundError:
                    continue  # its write finished or another sweep took it
                except OSError as exc:
                    raise StorageError(f"cannot remove {path}: {exc}") from exc
        return sorted(gone)

    # -- internals ---------------------------------------------------------------------------

    def _remember(self, key: str, target: Path, sha256: str, content_type: str) -> ObjectInfo:
        st = target.stat()
        with self._lock:
            self._sha[(str(target), st.st_size, st.st_mtime_ns)] = sha256
        return ObjectInfo(
            key=key,
            size=st.st_size,
            sha256=sha256,
            content_type=content_type,
            etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
        )
