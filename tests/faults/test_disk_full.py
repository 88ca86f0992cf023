"""The data disk fills up during a split (a real ENOSPC: the data dir is a small tmpfs): the
session fails with a clear reason, the recording is untouched, no half-cut VOD is left or
published, and the same session is cut and published once space returns.

(A full disk during capture is tested in tests/capture/test_bad_input.py: the recorder stops
with ``disk full (ENOSPC)`` and keeps every complete segment.)
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamer.config import Settings
from streamer.pipeline import stages
from streamer.pipeline.states import SessionState
from streamer.publish.catalog import read_index
from streamer.publish.open import open_storage

from .conftest import EVENT, make_pipeline


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the filler's path."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):  # down to the last byte
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_disk_full_during_split(small_disk: Path, tmp_path: Path, hls_source: list[Any]) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=small_disk / "data",
        schedules=tmp_path / "schedules",
        split_mode="exact",
        storage=(tmp_path / "public").as_uri(),  # the store is elsewhere: not full
        # the state DB too (a full disk under SQLite itself: see the module's docstring)
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
    )
    p = make_pipeline(settings, hls_source)
    timeline = (p.recording / "timeline.jsonl").read_bytes()
    filler = fill(small_disk)

    stages.process_stage(settings, EVENT, "s1")  # no exception escapes
    s = p.store.session(EVENT, "s1")
    assert s.state == SessionState.FAILED, s
    assert "No space left on device" in (s.reason or "") or "disk full" in (s.reason or "")
    assert "Traceback" not in (s.reason or "")
    assert s.next_try_at is not None  # retried, not given up
    # nothing half-written: no VOD, no split work left, nothing published
    vods = settings.vods_dir / EVENT
    left = files(vods) if vods.exists() else set()
    assert not {f for f in left if f.endswith((".mp4", ".jpg")) or ".tmp" in f}, left
    assert read_index(open_storage(settings), EVENT) is None
    assert (p.recording / "timeline.jsonl").read_bytes() == timeline  # recording untouched

    filler.unlink()  # space returns: the planned retry cuts and publishes it
    stages.process_stage(settings, EVENT, "s1")
    s = p.store.session(EVENT, "s1")
    assert s.state == SessionState.PUBLISHED, s.reason
    index = read_index(open_storage(settings), EVENT)
    assert index is not None
    [item] = index["items"]
    assert (item["session_id"], item["version"], item["status"]) == ("s1", 1, "complete")
    assert item["duration_s"] == pytest.approx(6.0, abs=0.1)
