"""S3Storage: any S3-compatible store (AWS, MinIO, R2...) through boto3.

Media go up through boto3's transfer manager (multipart above the part size, parts in
parallel) with S3's own CRC32C checksum, which botocore computes per part with the CRT
(hardware CRC, a fraction of the cost of a SHA256), so the store refuses a corrupted part and
reports the composite checksum (the CRC32C of the parts' CRC32Cs). ``Checksum.CRC64NVME`` asks
for a full-object checksum instead (dearer for some stores: docs/publish.md). After an upload,
``head`` verifies the size, our ``sha256`` metadata (computed once, at split time: never again
here) and the store's checksum against the one derived from the parts' CRCs that botocore
computed from the bytes it sent; ``verify_read=True`` reads the file again and also checks its
sha256.

The bodies are not SHA256-signed (SigV4 ``UNSIGNED-PAYLOAD``): every body goes up with a
checksum the store verifies in a signed header (CRC32C for media, SHA256 for JSON), which is
the condition on which botocore itself stops signing bodies over TLS. Signing them again costs a
SHA256 of every byte (0.75 CPU-s per 500 MB here), the largest client-side cost on plain-HTTP
endpoints; ``sign_payload=True`` restores it for a plain-HTTP store on an untrusted network
(where a CRC, unlike the signature, can be forged to match altered bytes).

Every operation is retried as a whole, with backoff and a bounded total time, on connection
errors, 5xx and throttling; botocore's own retries sit underneath.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from s3transfer.utils import ChunksizeAdjuster
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from streamer.errors import NotFound, StorageError
from streamer.publish.checksum import Checksum, file_part_crcs
from streamer.publish.storage import ObjectInfo, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger(__name__)
T = TypeVar("T")
MB = 1024 * 1024

_THROTTLE = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalError",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How long an operation may keep failing before StorageError (seconds)."""

    total_s: float = 300.0
    initial_s: float = 0.5
    max_wait_s: float = 20.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    botocore_attempts: int = 3
    # the budget is counted on ``clock`` and waited out with ``sleep`` (tests pass fakes)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: connection trouble, 5xx, throttling; looks through wrapped causes."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, BotoConnectionError | HTTPClientError | ConnectionError):
            return True
        if isinstance(cur, ClientError):
            err = cur.response.get("Error", {})
            status = cur.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return status >= 500 or status == 429 or err.get("Code", "") in _THROTTLE
        cur = cur.__cause__ or cur.__context__
    return False


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
        self.transfer = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=concurrency,
            use_threads=True,
            # read ahead in part-sized pieces: fewer syscalls and fewer, fuller socket writes
            io_chunksize=min(part_size, 4 * MB),
        )
        if client is None:
            config = Config(
                region_name=region,
                signature_version="s3v4",  # presigned URLs too (R2 and AWS accept only v4)
                s3={
                    "addressing_style": "path" if path_style else "auto",
                    # the checksum header (signed) covers the body: see the module docstring
                    "payload_signing_enabled": sign_payload,
                },
                retries={"mode": "standard", "max_attempts": self.retry.botocore_attempts},
                connect_timeout=self.retry.connect_timeout_s,
                read_timeout=self.retry.read_timeout_s,
                max_pool_connections=max(10, concurrency + 2),
            )
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        self.client: S3Client = client
        self.verify_read = verify_read
        # per-part CRCs of multipart uploads, by full key, from the Complete request
        self._parts: dict[str, list[str]] = {}
        self._parts_lock = threading.Lock()
        self.client.meta.events.register(
            "before-parameter-build.s3.CompleteMultipartUpload", self._remember_parts
        )

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
        before = _stat(path)
        extra = {
            "ContentType": content_type,
            "CacheControl": cache_control,
            "Metadata": {"sha256": sha256},  # ASCII only: user metadata travels in headers
            "ChecksumAlgorithm": self.checksum.value,
        }
        if self.checksum.full_object:  # s3transfer leaves it out of a single PUT
            extra["ChecksumType"] = "FULL_OBJECT"

        def upload() -> None:
            done = _Counter(progress)  # restarts from 0 on every attempt
            self.client.upload_file(
                str(path), self.bucket, full, ExtraArgs=extra, Config=self.transfer, Callback=done
            )

        self._call("upload", key, upload)
        with self._parts_lock:
            parts = self._parts.pop(full, None)
        if _stat(path) != before:
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
                if _status(exc) == 404:
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
        chunk = self._chunksize(size)
        multipart = size >= self.transfer.multipart_threshold
        if parts and not self.verify_read:
            # the caller's sha256 (taken at split time) is trusted: not computed again here
            crcs = [self.checksum.decode(p) for p in parts]
        else:  # one read for both (a single PUT is at most one part: cheap)
            digest = hashlib.sha256()
            try:
                crcs = file_part_crcs(path, self.checksum, chunk, digest.update)
            except OSError as exc:
                raise StorageError(f"cannot read {path}: {exc}") from exc
            if digest.hexdigest() != sha256:
                raise StorageError(
                    f"{key}: {path} changed: sha256 {digest.hexdigest()}, expected {sha256}"
                )
        expected = self.checksum.stored(crcs, chunk, size, multipart)
        if not _same_checksum(info.checksum, expected):
            raise StorageError(
                f"{key}: store checksum {info.checksum} differs from the file's {expected}"
            )

    def _remember_parts(self, params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") != self.bucket:
            return
        parts = params.get("MultipartUpload", {}).get("Parts", [])
        ordered = sorted(parts, key=lambda p: int(p.get("PartNumber", 0)))
        checksums = [str(p.get(f"Checksum{self.checksum.value}", "")) for p in ordered]
        if checksums and all(checksums):
            with self._parts_lock:
                self._parts[str(params.get("Key"))] = checksums

    def _chunksize(self, size: int) -> int:
        # the part size s3transfer really uses (it grows it for files of > 10,000 parts)
        return int(ChunksizeAdjuster().adjust_chunksize(self.transfer.multipart_chunksize, size))

    def _call(self, what: str, key: str, fn: Callable[[], T]) -> T:
        policy = self.retry

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "s3 %s %s failed (attempt %d, retrying): %s",
                what,
                key,
                state.attempt_number,
                type(exc).__name__ if exc else "?",
            )

        started = policy.clock()

        def out_of_time(_: RetryCallState) -> bool:
            return policy.clock() - started >= policy.total_s

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=out_of_time,
            sleep=policy.sleep,
            wait=wait_exponential(multiplier=policy.initial_s, max=policy.max_wait_s)
            + wait_random(0, policy.initial_s),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except ClientError as exc:
            if _status(exc) == 404 or exc.response.get("Error", {}).get("Code") in (
                "NoSuchKey",
                "NoSuchBucket",
            ):
                raise NotFound(f"s3 {what} {key}: {_describe(exc)}") from exc
            raise StorageError(f"s3 {what} {key}: {_describe(exc)}") from exc
        except (BotoCoreError, OSError, boto3.exceptions.Boto3Error) as exc:
            raise StorageError(f"s3 {what} {key}: {_describe(exc)}") from exc


class _Counter:
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


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    return st.st_size, st.st_mtime_ns


def _same_checksum(stored: str, expected: str) -> bool:
    """A composite checksum ends in ``-{parts}``; moto's HEAD leaves that off (S3's does not)."""
    value, _, parts = stored.partition("-")
    want, _, want_parts = expected.partition("-")
    return value == want and parts in ("", want_parts)


def _text(resp: Mapping[str, Any], field: str) -> str | None:
    value = resp.get(field)
    return str(value) if value else None


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _describe(exc: BaseException) -> str:
    # botocore messages name the operation and code; never the credentials
    return f"{type(exc).__name__}: {exc}"
