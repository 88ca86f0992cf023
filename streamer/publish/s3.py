"""S3Storage: any S3-compatible store (AWS, MinIO, R2...) through boto3.

Media go up through boto3's transfer manager (multipart above the part size, parts in
parallel: ``s3_upload.py``) with S3's own CRC32C checksum, which botocore computes per part with
the CRT (hardware CRC, a fraction of the cost of a SHA256), so the store refuses a corrupted part
and reports the composite checksum (the CRC32C of the parts' CRC32Cs). ``Checksum.CRC64NVME``
asks for a full-object checksum instead (dearer for some stores: docs/publish.md). After an
upload, ``head`` verifies the size, our ``sha256`` metadata and the store's checksum
(``s3_verify.py``). Bodies are not SHA256-signed unless ``sign_payload`` (``s3_client.py``);
every operation is retried as a whole (``s3_retry.py``).
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from streamer.errors import StorageError
from streamer.files import file_stat
from streamer.publish import s3_retry
from streamer.publish.checksum import Checksum
from streamer.publish.s3_client import make_client
from streamer.publish.s3_retry import RetryPolicy, status
from streamer.publish.s3_upload import (
    MB,
    PartCrcs,
    ProgressCounter,
    chunksize,
    transfer_config,
    upload_args,
)
from streamer.publish.s3_verify import verify_upload
from streamer.publish.storage import ObjectInfo, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

T = TypeVar("T")


class S3Storage:
    """Objects under ``s3://{bucket}/{prefix}``; keys given and returned are relative to it."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        part_size: int = 16 * MB,
        concurrency: int = 8,
        presign: bool = False,
        presign_expires_s: int = 7 * 24 * 3600,
        public_base_url: str | None = None,
        retry: RetryPolicy | None = None,
        client: S3Client | None = None,
        verify_read: bool = False,
        sign_payload: bool = False,
        checksum: Checksum = Checksum.CRC32C,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        self.region = region
        self.presign = presign
        self.presign_expires_s = presign_expires_s
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.retry = retry or RetryPolicy()
        self.part_size = part_size
        self.checksum = checksum
        self.transfer = transfer_config(part_size, concurrency)
        if client is None:
            client = make_client(
                endpoint_url=endpoint_url,
                region=region,
                path_style=path_style,
                concurrency=concurrency,
                sign_payload=sign_payload,
                retry=self.retry,
            )
        self.client: S3Client = client
        self.verify_read = verify_read
        # per-part CRCs of multipart uploads, by full key, from the Complete request
        self._parts = PartCrcs(self.client, bucket, checksum)

    def __repr__(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"S3Storage({where!r}, endpoint={self.endpoint_url!r})"

    # -- keys and URLs -------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def url_lifetime_s(self) -> float | None:
        """Presigned URLs expire after ``presign_expires_s``; a CDN's or the bucket's never."""
        return float(self.presign_expires_s) if self.presign and not self.public_base_url else None

    def url(self, key: str) -> str:
        """Public base (CDN) + key, else a presigned GET, else the endpoint's own URL."""
        full = self._full(key)
        if self.public_base_url:
            return f"{self.public_base_url}/{key}"
        if self.presign:
            return self._call(
                "presign",
                key,
                lambda: self.client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": full},
                    ExpiresIn=self.presign_expires_s,
                ),
            )
        if self.endpoint_url:
            return f"{self.endpoint_url}/{self.bucket}/{full}"
        region = self.region or "us-east-1"
        return f"https://{self.bucket}.s3.{region}.amazonaws.com/{full}"

    # -- writes --------------------------------------------------------------------------------

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
        full = self._full(key)
        before = file_stat(path)
        extra = upload_args(content_type, cache_control, sha256, self.checksum)

        def upload() -> None:
            done = ProgressCounter(progress)  # restarts from 0 on every attempt
            self.client.upload_file(
                str(path), self.bucket, full, ExtraArgs=extra, Config=self.transfer, Callback=done
            )

        self._call("upload", key, upload)
        parts = self._parts.pop(full)
        if file_stat(path) != before:
            # what went up may mix old and new bytes; the caller hashes again and retries
            raise StorageError(f"{key}: {path} changed during the upload")
        info = self.head(key)
        self._verify(key, path, info, before[0], sha256, parts)
        assert info is not None
        return info

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str
    ) -> ObjectInfo:
        full = self._full(key)
        digest = hashlib.sha256(data)
        sha = digest.hexdigest()

        def put() -> Any:
            return self.client.put_object(
                Bucket=self.bucket,
                Key=full,
                Body=data,
                ContentType=content_type,
                CacheControl=cache_control,
                Metadata={"sha256": sha},
                ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
            )

        resp = self._call("put", key, put)
        return ObjectInfo(
            key=key,
            size=len(data),
            sha256=sha,
            content_type=content_type,
            etag=str(resp.get("ETag", "")).strip('"') or None,
        )

    def delete(self, key: str) -> None:
        full = self._full(key)
        self._call("delete", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=full))

    # -- reads ---------------------------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        full = self._full(key)

        def get() -> bytes:
            resp = self.client.get_object(Bucket=self.bucket, Key=full)
            return resp["Body"].read()

        return self._call("get", key, get)

    def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)

        def head() -> ObjectInfo | None:
            try:
                resp = self.client.head_object(Bucket=self.bucket, Key=full, ChecksumMode="ENABLED")
            except ClientError as exc:
                if status(exc) == 404:
                    return None
                raise
            return ObjectInfo(
                key=key,
                size=int(resp.get("ContentLength", 0)),
                sha256=resp.get("Metadata", {}).get("sha256"),
                content_type=resp.get("ContentType"),
                etag=str(resp.get("ETag", "")).strip('"') or None,
                checksum=_text(resp, f"Checksum{self.checksum.value}"),
                cache_control=resp.get("CacheControl"),
            )

        return self._call("head", key, head)

    def list(self, prefix: str = "") -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""

        def scan() -> list[str]:
            keys: list[str] = []
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix
            )
            for page in pages:
                keys.extend(obj["Key"][len(base) :] for obj in page.get("Contents", []))
            return sorted(keys)

        return self._call("list", prefix or "/", scan)

    def sweep_stale(self, prefix: str, older_than: datetime) -> builtins.list[str]:
        """Abort the multipart uploads to keys under ``prefix`` begun before ``older_than``:
        a killed upload leaves its parts stored (and billed) until someone aborts it."""
        base = f"{self.prefix}/" if self.prefix else ""

        def sweep() -> builtins.list[str]:
            gone: builtins.list[str] = []
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=base + prefix
            )
            for page in pages:
                for up in page.get("Uploads", []):
                    if up["Initiated"] >= older_than:
                        continue
                    with contextlib.suppress(self.client.exceptions.NoSuchUpload):
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"]
                        )
                    gone.append(up["Key"][len(base) :])
            return sorted(gone)

        return self._call("sweep", prefix or "/", sweep)

    # -- internals -----------------------------------------------------------------------------

    def _verify(
        self,
        key: str,
        path: Path,
        info: ObjectInfo | None,
        size: int,
        sha256: str,
        parts: Sequence[str] | None = None,
    ) -> None:
        """The stored object is the file (``s3_verify.verify_upload``)."""
        verify_upload(
            key,
            path,
            info,
            size,
            sha256,
            parts,
            checksum=self.checksum,
            chunk=self._chunksize(size),
            multipart=size >= self.transfer.multipart_threshold,
            verify_read=self.verify_read,
        )

    def _chunksize(self, size: int) -> int:
        return chunksize(self.transfer, size)

    def _call(self, what: str, key: str, fn: Callable[[], T]) -> T:
        return s3_retry.call(self.retry, what, key, fn)


def _text(resp: Mapping[str, Any], field: str) -> str | None:
    value = resp.get(field)
    return str(value) if value else None
