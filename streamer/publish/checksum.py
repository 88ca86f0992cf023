"""S3's own checksums of an upload, as the store reports them, from the parts' CRCs or the file.

CRC32C (the default) is composite for a multipart upload: the store checks each part's CRC32C on
receipt and reports the CRC32C of the parts' CRCs joined, with ``-{parts}`` appended. CRC64NVME
is full-object: the whole file's CRC, combined from the parts' (``crc64.py``). A single PUT
reports the whole file's CRC either way. The CRCs come from the CRT (awscrt), as botocore's do.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path

from awscrt import checksums

from streamer.publish.crc64 import crc64nvme_combine

READ = 4 * 1024 * 1024


class Checksum(StrEnum):
    """The ``ChecksumAlgorithm`` of media uploads (what each mode costs: docs/publish.md)."""

    CRC32C = "CRC32C"  # composite: per part, then a checksum of the parts' checksums
    CRC64NVME = "CRC64NVME"  # full object (S3 allows it no other way)

    @property
    def full_object(self) -> bool:
        return self is Checksum.CRC64NVME

    @property
    def width(self) -> int:
        return 8 if self is Checksum.CRC64NVME else 4

    def crc(self, data: bytes, previous: int = 0) -> int:
        if self is Checksum.CRC64NVME:
            return int(checksums.crc64nvme(data, previous))
        return int(checksums.crc32c(data, previous))

    def b64(self, crc: int) -> str:
        """As S3 spells it: the big-endian bytes in base64."""
        return base64.b64encode(crc.to_bytes(self.width, "big")).decode()

    def stored(self, part_crcs: Sequence[int], part_size: int, size: int, multipart: bool) -> str:
        """What the store reports for an object uploaded in these parts (all full but the last)."""
        if not multipart:
            if len(part_crcs) != 1:
                raise ValueError("a single PUT has one CRC")
            return self.b64(part_crcs[0])
        if self.full_object:
            crc = 0
            for i, part in enumerate(part_crcs):
                crc = crc64nvme_combine(crc, part, min(part_size, size - i * part_size))
            return self.b64(crc)
        joined = b"".join(c.to_bytes(self.width, "big") for c in part_crcs)
        return f"{self.b64(self.crc(joined))}-{len(part_crcs)}"

    def decode(self, value: str) -> int:
        return int.from_bytes(base64.b64decode(value), "big")


def file_part_crcs(
    path: Path, algorithm: Checksum, part_size: int, also: Callable[[bytes], object] | None = None
) -> list[int]:
    """The CRC of each ``part_size`` run of a file (one, for an empty file); ``also`` sees every
    chunk too (one read for two digests)."""
    crcs: list[int] = []
    with open(path, "rb") as f:
        while True:
            crc, left, got = 0, part_size, False
            while left and (chunk := f.read(min(READ, left))):
                crc = algorithm.crc(chunk, crc)
                left -= len(chunk)
                got = True
                if also is not None:
                    also(chunk)
            if not got:
                break
            crcs.append(crc)
    return crcs or [0]
