"""The split's faststart: moov moved in front while the bytes are hashed, and what a probe
would say read from that moov; the split stage reads its output once after ffmpeg wrote it."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from streamer.split import split_session
from streamer.split.faststart import describe, faststart

from .conftest import Recording
from .helpers import framemd5, record_runs


def _probe(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "format=duration:stream=codec_type,codec_name,width,height,nb_frames",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    return dict(json.loads(out))


@pytest.fixture(scope="module")
def moov_last(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fs") / "plain.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=3",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
         "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


def test_moves_the_moov_in_front_and_hashes_what_it_wrote(moov_last: Path, tmp_path: Path) -> None:
    head = moov_last.read_bytes()
    assert head.find(b"mdat") < head.find(b"moov")  # as ffmpeg wrote it
    out = tmp_path / "fast.mp4"
    written = faststart(moov_last, out)
    assert written is not None
    data = out.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")
    assert written.size == len(data) == len(head)
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    # the same packets, and every chunk offset still points at its sample
    assert framemd5(str(out)) == framemd5(str(moov_last))
    errors = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(out), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    ).stderr  # fmt: skip
    assert errors == ""
    # what ffprobe says, read from the moov
    probed = _probe(out)
    streams = {s["codec_type"]: s for s in probed["streams"]}  # type: ignore[attr-defined]
    info = written.info
    assert info.duration_s == pytest.approx(float(probed["format"]["duration"]), abs=0.05)  # type: ignore[index]
    assert (info.width, info.height) == (streams["video"]["width"], streams["video"]["height"])
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.video_frames == int(streams["video"]["nb_frames"]) == 75
    # a file already in order is copied as it is; describe() reads the same from a file
    again = faststart(out, tmp_path / "again.mp4")
    assert again is not None and (tmp_path / "again.mp4").read_bytes() == data
    assert describe(out).info == info and describe(out).sha256 == written.sha256


def test_split_writes_its_output_once_and_never_reopens_it(
    recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ffmpeg run writes the MP4 with its moov in front; no run reads it afterwards: no
    ffprobe of it, no faststart pass, no thumbnail run (that comes from the head re-encode),
    and the sha256 is taken in the one read that follows the write."""
    runs = record_runs(monkeypatch)
    res = split_session(recording.directory, recording.program, "mid", tmp_path)
    named = [a for a in runs if any(x.endswith("vod.mp4") for x in a)]
    readers = [a for a in named if "ffprobe" in a[0] or any(
        a[i - 1] == "-i" and x.endswith("vod.mp4") for i, x in enumerate(a))]  # fmt: skip
    assert readers == []
    assert len(named) == 1 and "-moov_size" in named[0]
    data = res.outputs.mp4.read_bytes()
    assert res.record.sha256 == hashlib.sha256(data).hexdigest()
    assert res.record.size_bytes == len(data)
    assert 0 <= data.find(b"moov") < data.find(b"mdat")
