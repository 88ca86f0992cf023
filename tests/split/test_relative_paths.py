"""The service's defaults are relative (``./data``): a cut must not depend on absolute paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from streamer.split import split_session
from tests.split.conftest import Recording, decode_errors


def test_cut_with_relative_recording_and_output_dirs(
    recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(recording.directory, tmp_path / "data" / "rec")
    monkeypatch.chdir(tmp_path)
    result = split_session(Path("data/rec"), recording.program, "part", Path("data/vods"))
    mp4 = tmp_path / "data" / "vods" / "testcon" / "part.mp4"
    assert mp4.stat().st_size == result.record.size_bytes
    assert decode_errors(mp4) == ""
    assert not any(p.name.endswith(".tmp") for p in mp4.parent.iterdir())
    assert os.getcwd() == str(tmp_path)
