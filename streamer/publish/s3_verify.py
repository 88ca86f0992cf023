"""After an S3 upload: the stored object is the file (size, sha256 metadata, store checksum).

The store's checksum is checked against the one derived from the parts' CRCs that botocore
computed from the bytes it sent (the sha256 was computed once, at split time: never again
here); ``verify_read=True`` reads the file again and also checks its sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from streamer.errors import StorageError
from streamer.publish.checksum import Checksum, file_part_crcs
from streamer.publish.storage import ObjectInfo


def verify_upload(
    key: str,
    path: Path,
    info: ObjectInfo | None,
    size: int,
    sha256: str,
    parts: Sequence[str] | None,
    *,
    checksum: Checksum,
    chunk: int,
    multipart: bool,
    verify_read: bool,
) -> None:
    """The stored object is the file: size, our metadata, and the store's own checksum.

    ``parts`` are the per-part CRCs botocore computed from the bytes it sent (and the store
    compared on receipt); the store's checksum is derived from them. Without them (a single
    PUT), or with ``verify_read``, the file is read again for its CRCs and sha256."""
    if info is None:
        raise StorageError(f"{key}: missing right after upload")
    if info.size != size or info.sha256 != sha256:
        raise StorageError(
            f"{key}: stored {info.size} bytes sha256={info.sha256}, expected {size} {sha256}"
        )
    if not info.checksum:
        return  # a store without checksums: size and metadata are all there is
    if parts and not verify_read:
        # the caller's sha256 (taken at split time) is trusted: not computed again here
        crcs = [checksum.decode(p) for p in parts]
    else:  # one read for both (a single PUT is at most one part: cheap)
        digest = hashlib.sha256()
        try:
            crcs = file_part_crcs(path, checksum, chunk, digest.update)
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        if digest.hexdigest() != sha256:
            raise StorageError(
                f"{key}: {path} changed: sha256 {digest.hexdigest()}, expected {sha256}"
            )
    expected = checksum.stored(crcs, chunk, size, multipart)
    if not same_checksum(info.checksum, expected):
        raise StorageError(
            f"{key}: store checksum {info.checksum} differs from the file's {expected}"
        )


def same_checksum(stored: str, expected: str) -> bool:
    """A composite checksum ends in ``-{parts}``; moto's HEAD leaves that off (S3's does not)."""
    value, _, parts = stored.partition("-")
    want, _, want_parts = expected.partition("-")
    return value == want and parts in ("", want_parts)
