"""The one-run probe around the cut points, and how audio frames are shared out over pieces."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import pytest

from streamer.capture.timeline import Timeline
from streamer.split.cutter import _count_audio, _Joiner, _PieceCut
from streamer.split.probe import AudioInfo, MediaInfo, media_info, probe_around, video_packets
from tests.split.conftest import Recording, at


def _url(recording: Recording, tmp_path: Path, start: float, end: float) -> str:
    pieces = Timeline.load(recording.directory).pieces(at(start), at(end))
    return _Joiner(tmp_path).url([f.resolve() for f in pieces[0].files])


@pytest.mark.parametrize(
    "offsets",
    [
        [(0.0, 3.0)],  # from the very start
        [(2.5, 5.0), (9.5, 12.0)],  # two runs, the second counted from where the first stopped
        [(1.0, 2.0), (2.5, 30.0)],  # close together: one run, to the end of the input
    ],
)
def test_probe_around_knows_every_packet_in_its_spans(
    recording: Recording, tmp_path: Path, offsets: list[tuple[float, float]]
) -> None:
    url = _url(recording, tmp_path, 0.0, 15.9)  # part 1 up to the gap: 0-16 s
    probe = probe_around(url, offsets)
    assert probe.info == media_info(url)
    every = video_packets(url, [(0.0, 1e9)])
    assert len(every) == 16 * 25
    got = {round(p.pts, 4) for p in probe.packets}
    assert len(probe.spans) == 1 + sum(b[0] - a[1] > 4.0 for a, b in pairwise(offsets))
    for lo, hi in probe.spans:
        inside = [p for p in every if lo <= p.pts <= hi]
        assert inside and all(round(p.pts, 4) in got for p in inside), (lo, hi)
    start = probe.info.start
    for lo, hi in offsets:  # what was asked for is covered (but for the reorder delay)
        assert any(a <= start + lo + 0.2 and start + hi - 0.2 <= b for a, b in probe.spans)
    if offsets[0][0] == 0.0:
        assert probe.spans[0][0] == -math.inf
    if offsets[-1][1] >= 16.0:
        assert probe.spans[-1][1] == math.inf


def test_audio_frames_follow_the_running_total() -> None:
    audio = AudioInfo(codec="aac", sample_rate=48000, channels=2, pid=257, start=0.0)
    info = MediaInfo(start=0.0, duration=None, video=None, audio=audio)
    durations = [3.51, 0.07, 8.4, 2.03, 11.99]
    cuts = [
        _PieceCut("x", info, start=10.0, end=10.0 + d, audio=Path(f"p{i}.aac"))
        for i, d in enumerate(durations)
    ]
    _count_audio(cuts)
    afd = audio.frame_s
    total = 0
    offset = 0.0
    for c, d in zip(cuts, durations, strict=True):
        assert abs(total * afd - offset) <= afd / 2 + 1e-9  # each piece's audio starts in time
        total += c.audio_frames
        offset += d
    assert abs(total * afd - offset) <= afd / 2 + 1e-9
