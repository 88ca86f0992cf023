"""``/media/...``: the local store's files, with Range requests and no way out of its root."""

from __future__ import annotations

import mimetypes
import os
import stat
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from streamer.api.errors import ApiError
from streamer.api.httpcache import matches_if_none_match
from streamer.api.ranges import RangeNotSatisfiable, parse_range

MEDIA_CACHE = "public, max-age=300"
INDEX_CACHE = "public, max-age=10"
_TYPES = {
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".json": "application/json",
    ".xml": "application/rss+xml; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
}


def resolve(root: Path, path: str) -> Path | None:
    """The regular file ``path`` names under ``root``, or None for anything else.

    Refused: empty, absolute or backslash paths, NUL, ``.``/``..`` segments, hidden names
    (temporary files of atomic writes), and anything whose real path (symlinks followed)
    is outside ``root``.
    """
    if not path or "\x00" in path or "\\" in path or path.startswith("/"):
        return None
    parts = path.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, *parts))
    if os.path.commonpath([real_root, real]) != real_root or real == real_root:
        return None
    try:
        st = os.stat(real)
    except OSError:
        return None
    return Path(real) if stat.S_ISREG(st.st_mode) else None


def media_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _ranges_for(request: Request, etag: str, size: int) -> None:
    """Validate ``Range`` (streamer.api.ranges) and hand FileResponse a canonical one, or
    none at all when the whole file is to be sent. 416 is an ApiError like every error."""
    headers = [(k, v) for k, v in request.scope["headers"] if k not in (b"range", b"if-range")]
    if_range = request.headers.get("if-range")
    wanted = request.headers.get("range") if if_range in (None, etag) else None
    try:
        ranges = parse_range(wanted, size) if request.method == "GET" else None
    except RangeNotSatisfiable as exc:
        raise ApiError(
            416,
            "range_not_satisfiable",
            str(exc),
            headers={"Content-Range": f"bytes */{exc.size}", "Accept-Ranges": "bytes"},
        ) from None
    if ranges is not None:
        canonical = ",".join(f"{lo}-{hi}" for lo, hi in ranges)
        headers.append((b"range", f"bytes={canonical}".encode()))
    request.scope["headers"] = headers


def make_router(root: Path) -> APIRouter:
    """The ``/media`` router for a LocalStorage rooted at ``root``."""
    router = APIRouter(tags=["media"])

    @router.api_route("/media/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def media(path: str, request: Request) -> Response:
        """A stored object (MP4, thumbnail, JSON), with Range support."""
        file = resolve(root, path)
        if file is None:
            raise ApiError(404, "not_found", f"no media {path!r}")
        st = file.stat()
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        cache = INDEX_CACHE if file.suffix in (".json", ".xml") else MEDIA_CACHE
        headers = {"ETag": etag, "Cache-Control": cache}
        if matches_if_none_match(request.headers, etag.strip('"')):
            return Response(status_code=304, headers=headers)
        _ranges_for(request, etag, st.st_size)
        return FileResponse(file, stat_result=st, media_type=media_type(file), headers=headers)

    return router
