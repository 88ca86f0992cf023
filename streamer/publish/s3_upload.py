"""Multipart uploads through boto3's transfer manager: its configuration, the progress total,
and the per-part CRCs botocore sends (kept for the verification after the upload).

Media go up multipart above the part size, parts in parallel, with S3's own checksum, which
botocore computes per part with the CRT, so the store refuses a corrupted part.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import TransferConfig
from s3transfer.utils import ChunksizeAdjuster

from streamer.publish.checksum import Checksum

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

MB = 1024 * 1024


def transfer_config(part_size: int, concurrency: int) -> TransferConfig:
    return TransferConfig(
        multipart_threshold=part_size,
        multipart_chunksize=part_size,
        max_concurrency=concurrency,
        use_threads=True,
        # read ahead in part-sized pieces: fewer syscalls and fewer, fuller socket writes
        io_chunksize=min(part_size, 4 * MB),
    )


def chunksize(transfer: TransferConfig, size: int) -> int:
    # the part size s3transfer really uses (it grows it for files of > 10,000 parts)
    return int(ChunksizeAdjuster().adjust_chunksize(transfer.multipart_chunksize, size))


def upload_args(
    content_type: str, cache_control: str, sha256: str, checksum: Checksum
) -> dict[str, Any]:
    """The ``ExtraArgs`` of a media upload."""
    extra: dict[str, Any] = {
        "ContentType": content_type,
        "CacheControl": cache_control,
        "Metadata": {"sha256": sha256},  # ASCII only: user metadata travels in headers
        "ChecksumAlgorithm": checksum.value,
    }
    if checksum.full_object:  # s3transfer leaves it out of a single PUT
        extra["ChecksumType"] = "FULL_OBJECT"
    return extra


class PartCrcs:
    """Per-part CRCs of the multipart uploads to ``bucket``, by full key, taken from each
    CompleteMultipartUpload request ``client`` sends."""

    def __init__(self, client: S3Client, bucket: str, checksum: Checksum) -> None:
        self.bucket = bucket
        self.checksum = checksum
        self._parts: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        client.meta.events.register(
            "before-parameter-build.s3.CompleteMultipartUpload", self._remember
        )

    def pop(self, full_key: str) -> list[str] | None:
        with self._lock:
            return self._parts.pop(full_key, None)

    def _remember(self, params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") != self.bucket:
            return
        parts = params.get("MultipartUpload", {}).get("Parts", [])
        ordered = sorted(parts, key=lambda p: int(p.get("PartNumber", 0)))
        checksums = [str(p.get(f"Checksum{self.checksum.value}", "")) for p in ordered]
        if checksums and all(checksums):
            with self._lock:
                self._parts[str(params.get("Key"))] = checksums


class ProgressCounter:
    """boto3 reports increments from several threads; the caller wants a running total."""

    def __init__(self, sink: Callable[[int], None] | None) -> None:
        self.sink = sink
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, increment: int) -> None:
        if self.sink is None:
            return
        with self._lock:
            self.total += increment
            total = self.total
        self.sink(total)
