"""The boto3 S3 client of S3Storage: signing, addressing, timeouts, connection pool.

The bodies are not SHA256-signed (SigV4 ``UNSIGNED-PAYLOAD``): every body goes up with a
checksum the store verifies in a signed header (CRC32C for media, SHA256 for JSON), which is
the condition on which botocore itself stops signing bodies over TLS. Signing them again costs a
SHA256 of every byte (0.75 CPU-s per 500 MB here), the largest client-side cost on plain-HTTP
endpoints; ``sign_payload=True`` restores it for a plain-HTTP store on an untrusted network
(where a CRC, unlike the signature, can be forged to match altered bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from streamer.publish.s3_retry import RetryPolicy

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


def make_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    path_style: bool,
    concurrency: int,
    sign_payload: bool,
    retry: RetryPolicy,
) -> S3Client:
    config = Config(
        region_name=region,
        signature_version="s3v4",  # presigned URLs too (R2 and AWS accept only v4)
        s3={
            "addressing_style": "path" if path_style else "auto",
            # the checksum header (signed) covers the body: see the module docstring
            "payload_signing_enabled": sign_payload,
        },
        retries={"mode": "standard", "max_attempts": retry.botocore_attempts},
        connect_timeout=retry.connect_timeout_s,
        read_timeout=retry.read_timeout_s,
        max_pool_connections=max(10, concurrency + 2),
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
