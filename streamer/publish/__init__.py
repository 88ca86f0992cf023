"""Publish: media, metadata and indexes into object storage."""
