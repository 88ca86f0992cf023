"""Cached response bodies: strong ETags from a content hash, 304s, pre-compressed gzip."""

from __future__ import annotations

import gzip
import hashlib

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

GZIP_MIN_BYTES = 1024
JSON = "application/json"


class CachedBody:
    """A serialized body with its strong ETag; the gzip form is made once, on first need."""

    __slots__ = ("_gz", "body", "etag", "tag")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.tag = hashlib.blake2b(body, digest_size=16).hexdigest()
        self.etag = f'"{self.tag}"'
        self._gz: bytes | None = None

    @property
    def gz_etag(self) -> str:
        return f'"{self.tag}-gz"'

    def gzipped(self) -> bytes:
        if self._gz is None:
            self._gz = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gz


def accepts_gzip(headers: Headers) -> bool:
    """True when Accept-Encoding lists gzip (or ``*``) without ``q=0``."""
    header = headers.get("accept-encoding")
    if not header:
        return False
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def matches_if_none_match(headers: Headers, tag: str) -> bool:
    """True when If-None-Match is ``*`` or names this body (in either encoding)."""
    header = headers.get("if-none-match")
    if not header:
        return False
    for candidate in header.split(","):
        value = candidate.strip().removeprefix("W/").strip('"')
        if value == "*" or value == tag or value == f"{tag}-gz":
            return True
    return False


def cached_response(
    request: Request | Headers,
    cached: CachedBody,
    *,
    cache_control: str,
    media_type: str = JSON,
    status_code: int = 200,
) -> Response:
    """200 with the body (gzip when accepted and worth it), or 304 when the client has it."""
    request_headers = request.headers if isinstance(request, Request) else request
    use_gz = len(cached.body) >= GZIP_MIN_BYTES and accepts_gzip(request_headers)
    headers = {
        "ETag": cached.gz_etag if use_gz else cached.etag,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
    }
    if status_code == 200 and matches_if_none_match(request_headers, cached.tag):
        return Response(status_code=304, headers=headers)
    if use_gz:
        headers["Content-Encoding"] = "gzip"
        return Response(cached.gzipped(), status_code, headers, media_type)
    return Response(cached.body, status_code, headers, media_type)
