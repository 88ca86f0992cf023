"""What the split stage makes besides the cut: the thumbnail from the head re-encode, the
hash and the moov in front when the room reserved for it is too small."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from streamer.capture.timeline import Timeline
from streamer.split import cutter as cutter_mod
from streamer.split import join as join_mod
from streamer.split import split_session
from streamer.split.thumbnail import SAMPLE_H, SAMPLE_W, pick_sample
from tests.split.conftest import SIZE, Recording, at, best_match, frame_count
from tests.split.helpers import packet_hashes, record_runs

AAC_FRAME = 1024 / 48000


def _yuv(jpg: Path, out: Path) -> Path:
    raw = out / "thumb.yuv"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(jpg), "-s", SIZE,
         "-pix_fmt", "yuv420p", "-f", "rawvideo", str(raw)],
        check=True, timeout=60,
    )  # fmt: skip
    return raw


def test_thumbnail_is_the_last_head_frame(recording: Recording, tmp_path: Path) -> None:
    res = split_session(recording.directory, recording.program, "mid", tmp_path / "out")
    # "mid" starts at 5.3 s (frame 132); the next keyframe is at 6.0 s (frame 150), so the
    # re-encoded head is frames 132-149 and its last frame is the one offered first
    n, best, _ = best_match(_yuv(res.outputs.jpg, tmp_path), 149, tmp_path)
    assert n == 149 and best > 25
    leftovers = [p.name for p in res.outputs.mp4.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_blank_head_frames_fall_back_to_sampling_the_vod(
    recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = record_runs(monkeypatch)
    monkeypatch.setattr(cutter_mod, "pick_sample", lambda gray, jpgs: None)
    res = split_session(recording.directory, recording.program, "mid", tmp_path)
    thumb_runs = [a for a in runs if "image2" in a and any(x.endswith("vod.mp4") for x in a)]
    assert len(thumb_runs) == 1
    assert res.outputs.jpg.read_bytes()[:2] == b"\xff\xd8"


def _sample(value: int, spread: bool) -> bytes:
    size = SAMPLE_W * SAMPLE_H
    if not spread:
        return bytes([value]) * size
    return bytes((value + (i % 2) * 60) % 256 for i in range(size))


def test_pick_sample_prefers_the_furthest_frame_that_is_not_blank(tmp_path: Path) -> None:
    gray = tmp_path / "s.gray"
    jpgs = [tmp_path / f"{i}.jpg" for i in range(3)]
    for j in jpgs:
        j.write_bytes(b"\xff\xd8")
    gray.write_bytes(_sample(100, True) + _sample(120, True) + _sample(0, False))  # last black
    assert pick_sample(gray, jpgs) == jpgs[1]
    gray.write_bytes(_sample(100, True) + _sample(120, False) + _sample(0, False))  # flat, black
    assert pick_sample(gray, jpgs) == jpgs[0]
    jpgs[0].unlink()
    assert pick_sample(gray, jpgs) is None  # the only usable frame's JPEG is missing
    gray.write_bytes(_sample(100, True))  # fewer samples than JPEGs
    jpgs[0].write_bytes(b"\xff\xd8")
    assert pick_sample(gray, jpgs) == jpgs[0]


def test_too_little_moov_room_still_gives_a_faststart_file(
    recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ffmpeg 5.1 exits 0 when the reserved room is too small; the join notices and writes
    the file again with the moov moved in front."""
    monkeypatch.setattr(join_mod, "MOOV_BASE", 64)
    monkeypatch.setattr(join_mod, "MOOV_PER_VIDEO_FRAME", 0)
    monkeypatch.setattr(join_mod, "MOOV_PER_AUDIO_FRAME", 0)
    res = split_session(recording.directory, recording.program, "mid", tmp_path)
    data = res.outputs.mp4.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")
    assert res.record.sha256 == hashlib.sha256(data).hexdigest()
    assert frame_count(res.outputs.mp4) == 342 - 132
    assert not list(res.outputs.mp4.parent.glob(".mid.*"))


def _audio_hashes(url: str) -> list[str]:
    return packet_hashes(url, "-map", "0:a", "-bsf:a", "aac_adtstoasc")


def test_one_piece_join_reads_one_input_and_the_source_audio_frames(
    recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head and tail runs carry the audio around the copied middle: no separate audio
    read, a join with one input, and the VOD's AAC frames are the source's, in one run."""
    runs = record_runs(monkeypatch)
    res = split_session(recording.directory, recording.program, "mid", tmp_path)
    assert not [a for a in runs if "adts" in a]
    (join,) = [a for a in runs if "-moov_size" in a]
    assert join.count("-i") == 1
    vod = _audio_hashes(str(res.outputs.mp4))
    assert abs(len(vod) - 8.4 / AAC_FRAME) <= 1
    (piece,) = Timeline.load(recording.directory).pieces(at(5.3), at(13.7))
    source = _audio_hashes("concat:" + "|".join(str(f) for f in piece.files))
    first = source.index(vod[0])
    assert source[first : first + len(vod)] == vod
