"""A session's split output as the publisher sees it: read from the VOD folder and hashed.
The files are the truth for size and sha256."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamer.errors import NotFoundError, StorageError
from streamer.files import file_stat, sha256_file
from streamer.publish.layout import record_key
from streamer.vod import VodRecord, vod_id
from streamer.vod.folder import Outputs, read_record_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalVod:
    """A session's files in the split output, hashed."""

    record: VodRecord
    media: Path
    media_sha: str
    media_stat: tuple[int, int]  # (size, mtime_ns) when hashed
    thumb: Path | None
    thumb_sha: str | None
    thumb_stat: tuple[int, int]


def load_local(vod_dir: Path, event_id: str, session_id: str) -> LocalVod:
    """Read and hash a session's split output; the files are the truth for size and sha256."""
    out = Outputs.of(vod_dir, event_id, session_id)
    media, meta = out.mp4, out.json
    thumb: Path | None = out.jpg
    record_key(event_id, session_id)  # refuses ids that make no valid key, before any read
    if not media.is_file() or not meta.is_file():
        raise NotFoundError(
            f"no split output for {vod_id(event_id, session_id)} in {vod_dir / event_id}"
        )
    record = read_record_file(meta)
    if (record.event_id, record.session_id) != (event_id, session_id):
        raise StorageError(f"{meta} describes {record.id}, not {vod_id(event_id, session_id)}")
    try:
        media_stat = file_stat(media)
        media_sha = sha256_file(media)
        has_thumb = thumb is not None and thumb.is_file()
        thumb_stat = file_stat(thumb) if thumb is not None and has_thumb else (0, 0)
        thumb_sha = sha256_file(thumb) if thumb is not None and has_thumb else None
    except OSError as exc:
        raise StorageError(f"cannot read {vod_dir / event_id}: {exc}") from exc
    if thumb_sha is None:
        thumb = None
    media_size = media_stat[0]
    if record.sha256 != media_sha or record.size_bytes != media_size:
        log.warning("%s: sha256/size differ from the file; using the file's", meta)
    update: dict[str, Any] = {
        "id": vod_id(event_id, session_id),
        "sha256": media_sha,
        "size_bytes": media_size,
        "thumbnail_sha256": thumb_sha,
    }
    return LocalVod(
        record.model_copy(update=update), media, media_sha, media_stat, thumb, thumb_sha, thumb_stat
    )
