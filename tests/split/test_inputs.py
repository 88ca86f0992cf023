"""The re-encodes read from the file holding their keyframe, not through the whole piece."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.split import split_session
from streamer.split.cutter import PTS_WRAP_S, _from_url
from streamer.split.parts import Joiner
from streamer.split.probe import Packet
from tests.split.conftest import Recording, frame_count
from tests.split.helpers import record_runs


def _input(argv: list[str]) -> str:
    return argv[argv.index("-i") + 1]


def test_the_tail_reads_from_its_keyframes_segment_by_absolute_time(
    recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "mid" runs 5.3-13.7 s over segments 102-106; its tail decodes from the keyframe at
    12.0 s, the start of segment 106: that run opens segment 106 on, and seeks by absolute
    time (seeking from the piece's start through a long concat cost ~0.1 CPU-s)."""
    runs = record_runs(monkeypatch)
    res = split_session(recording.directory, recording.program, "mid", tmp_path)
    (tail,) = [a for a in runs if any(x.endswith("-tail.ts") for x in a)]
    (head,) = [a for a in runs if any(x.endswith("-head.ts") for x in a)]
    files = _input(tail).removeprefix("concat:").split("|")
    assert Path(files[0]).name.startswith("0000000106") and "-seek_timestamp" in tail
    assert "0000000102" not in _input(tail)
    # the head's keyframe (4.0 s) is in the piece's first segment: the whole input, as before
    assert "0000000102" in _input(head) and "-seek_timestamp" not in head
    assert frame_count(res.outputs.mp4) == 342 - 132  # frames 132..341, as before


def test_no_narrowed_input_near_a_clock_wrap_or_without_a_position(tmp_path: Path) -> None:
    files = []
    for i in range(3):
        f = tmp_path / f"{i}.ts"
        f.write_bytes(b"\x47" * 188 * 10)
        files.append(f)
    joiner = Joiner(tmp_path)
    deep = Packet(pts=10.0, dts=10.0, key=True, pos=188 * 25)
    assert _from_url(files, joiner, deep) == f"concat:{files[2]}"
    assert _from_url(files, joiner, Packet(10.0, 10.0, True, 188 * 3)) is None  # first file
    assert _from_url(files, joiner, Packet(10.0, 10.0, True, None)) is None
    late = PTS_WRAP_S - 60.0
    assert _from_url(files, joiner, Packet(late, late, True, 188 * 25)) is None
