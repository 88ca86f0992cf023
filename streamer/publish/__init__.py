"""Publish: media, metadata and indexes into object storage."""

from streamer.publish.local import LocalStorage
from streamer.publish.memory import MemoryStorage
from streamer.publish.open import open_storage
from streamer.publish.storage import ObjectInfo, Storage, check_key

__all__ = ["LocalStorage", "MemoryStorage", "ObjectInfo", "Storage", "check_key", "open_storage"]
