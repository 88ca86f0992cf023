"""Kept for imports elsewhere: the one file hash is :func:`streamer.files.sha256_file`."""

from __future__ import annotations

from streamer.files import CHUNK, sha256_file

__all__ = ["CHUNK", "sha256_file"]
