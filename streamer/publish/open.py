"""open_storage: a storage URL → the backend that serves it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.publish.local import LocalStorage
from streamer.publish.memory import MemoryStorage
from streamer.publish.storage import Storage

MB = 1024 * 1024


def open_storage(settings: Settings, url: str | None = None) -> Storage:
    """``file:///path`` or a plain path → LocalStorage; ``s3://bucket/prefix`` → S3Storage;
    ``memory://`` → MemoryStorage. ``url`` defaults to ``settings.storage_url``."""
    url = url or settings.storage_url
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and url[1:2] == ":"):
        if scheme == "file" and parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"file URL with a host is not supported: {url}")
        path = Path(unquote(parsed.path)) if scheme == "file" else Path(url)
        return LocalStorage(path.expanduser(), base_url=settings.public_base_url or "/media")
    if scheme == "memory":
        return MemoryStorage(base_url=settings.public_base_url or "memory://")
    if scheme == "s3":
        if not parsed.netloc:
            raise ConfigError(f"no bucket in {url}; use s3://bucket/prefix")
        # imported here: boto3 is slow to import and only S3 needs it
        from streamer.publish.s3 import S3Storage
        from streamer.publish.s3_retry import RetryPolicy

        return S3Storage(
            parsed.netloc,
            parsed.path.strip("/"),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            path_style=settings.s3_path_style or bool(settings.s3_endpoint_url),
            part_size=settings.s3_part_size_mb * MB,
            concurrency=settings.s3_concurrency,
            presign=settings.s3_presign,
            presign_expires_s=settings.s3_presign_expires_s,
            sign_payload=settings.s3_sign_payload,
            public_base_url=settings.public_base_url,
            retry=RetryPolicy(total_s=settings.s3_retry_total_s),
        )
    raise ConfigError(f"unsupported storage URL {url!r}: use file:///path, s3://bucket/prefix")
