"""A recording with known timing, built once per test session with real ffmpeg.

Source: ``testsrc2`` (every frame differs) at 25 fps with a tone, encoded with libx264's
default B-frames and ``-g 50``: keyframes only at the 2 s segment starts, so cuts fall
mid-GOP. Global frame ``n`` of the source is on screen from ``T0 + n/25``.

Recording:
* part 1: source frames 0-999 (0-40 s) as segments seq 100-119, minus seq 108-109: a gap at
  16-20 s;
* part 2: frames 1000-1499 (40-60 s) encoded separately (timestamps restart), seq 0-9: a
  sequence reset, hence a new part.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streamer.capture.timeline import TimelineWriter
from streamer.schedule.model import Broadcast, Event, Program, Session, Speaker
from tests.conftest import built_once

FPS = 25
SIZE = "320x180"
W, H = 320, 180
SEG_S = 2
KST = ZoneInfo("Asia/Seoul")
T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=KST)
GAP_SEQS = {108, 109}  # part 1 loses 16-20 s
PART2_AT_S = 40
SOURCE = f"testsrc2=size={SIZE}:rate={FPS}"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=300)


def encode_hls(out: Path, first_frame: int, seconds: int) -> list[tuple[Path, float]]:
    """Encode source frames [first_frame, first_frame + seconds*FPS) as HLS; (file, EXTINF)."""
    out.mkdir(parents=True, exist_ok=True)
    start_s = first_frame / FPS
    _ffmpeg(
        "-f", "lavfi", "-i",
        f"{SOURCE},trim=start_frame={first_frame},setpts=PTS-STARTPTS",
        "-f", "lavfi", "-i",
        f"sine=frequency=440:sample_rate=48000,atrim=start={start_s},asetpts=PTS-STARTPTS",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-g", str(SEG_S * FPS),
        "-keyint_min", str(SEG_S * FPS), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k",
        "-f", "hls", "-hls_time", str(SEG_S), "-hls_list_size", "0",
        "-hls_segment_filename", str(out / "s%03d.ts"),
        str(out / "index.m3u8"),
    )  # fmt: skip
    text = (out / "index.m3u8").read_text()
    durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text)]
    files = sorted(out.glob("s*.ts"))
    assert len(files) == len(durations) == seconds // SEG_S
    return list(zip(files, durations, strict=True))


@dataclass(frozen=True)
class Recording:
    directory: Path
    program: Program


def make_program(sessions: list[tuple[str, float, float]]) -> Program:
    return Program(
        event=Event(id="testcon", title={"en": "Test Con", "ko": "테스트"}, timezone="Asia/Seoul"),
        broadcasts=[
            Broadcast(id="day1", url="https://example.org/live", start=at(0), end=at(3600))
        ],
        sessions=[
            Session(
                id=sid,
                broadcast="day1",
                start=at(a),
                end=at(b),
                title={"en": f"Session {sid}", "ko": f"세션 {sid}"},
                speakers=[Speaker(name="Kim", affiliation="Sejong")],
                track="Main",
                language="ko",
            )
            for sid, a, b in sessions
        ],
    )


SESSIONS = [
    ("mid", 5.3, 13.7),  # inside part 1, both ends mid-GOP
    ("gap", 12.5, 25.1),  # across the 16-20 s gap
    ("part", 35.5, 47.3),  # across the part boundary at 40 s
    ("edge", -10.0, 3.3),  # starts before the recording
    ("whole", 42.0, 60.0),  # ends at the end of the recording, starts on a keyframe
    ("missing", 120.0, 180.0),  # after the recording
]


@pytest.fixture(scope="session")
def source_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two encodes (generated once per run)."""

    def build(base: Path) -> None:
        encode_hls(base / "a", 0, PART2_AT_S)
        encode_hls(base / "b", PART2_AT_S * FPS, 20)

    return built_once(tmp_path_factory, "split-source", build)


def build_recording(source: Path, directory: Path) -> Path:
    with TimelineWriter(directory) as writer:
        writer.write_meta({"source_url": "https://example.org/live", "broadcast_id": "day1"})
        writer.start()
        part_a = encode_segments(source / "a")
        clock = 0.0
        for i, (f, dur) in enumerate(part_a):
            seq = 100 + i
            if seq not in GAP_SEQS:
                writer.write_segment(1, seq, f.read_bytes(), at(clock).astimezone(UTC), dur, True)
            clock += dur
        writer.new_part(2, "sequence reset")
        clock = float(PART2_AT_S)
        for j, (f, dur) in enumerate(encode_segments(source / "b")):
            writer.write_segment(2, j, f.read_bytes(), at(clock).astimezone(UTC), dur, True)
            clock += dur
        writer.end("ended", "ENDLIST")
    return directory


def encode_segments(folder: Path) -> list[tuple[Path, float]]:
    text = (folder / "index.m3u8").read_text()
    durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text)]
    return list(zip(sorted(folder.glob("s*.ts")), durations, strict=True))


@pytest.fixture(scope="session")
def recording(source_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Recording:
    directory = build_recording(source_dir, tmp_path_factory.mktemp("split-rec") / "day1")
    return Recording(directory, make_program(SESSIONS))


@pytest.fixture(scope="session")
def split_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One output root shared by the tests that only read results (cuts are made once)."""
    return tmp_path_factory.mktemp("split-out")


def source_frame(n: int, out: Path) -> Path:
    """The raw (never encoded) source frame ``n`` as yuv420p."""
    path = out / f"ref-{n}.yuv"
    if not path.exists():
        _ffmpeg(
            "-f", "lavfi", "-i", f"{SOURCE},trim=start_frame={n},setpts=PTS-STARTPTS",
            "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", str(path),
        )  # fmt: skip
    return path


def vod_frame(video: Path, index: int, out: Path) -> Path:
    """Decoded frame number ``index`` (0-based, presentation order) of a VOD."""
    path = out / f"{video.stem}-{index}.yuv"
    _ffmpeg(
        "-i", str(video), "-vf", f"select=eq(n\\,{index})", "-frames:v", "1",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def psnr(a: Path, b: Path) -> float:
    """PSNR (dB) of two raw yuv420p frames of the fixture's size; inf when identical."""
    res = subprocess.run(
        [
            "ffmpeg", "-nostdin", "-hide_banner",
            "-f", "rawvideo", "-s", SIZE, "-pix_fmt", "yuv420p", "-i", str(a),
            "-f", "rawvideo", "-s", SIZE, "-pix_fmt", "yuv420p", "-i", str(b),
            "-lavfi", "psnr", "-f", "null", "-",
        ],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    match = re.search(r"average:([0-9.]+|inf)", res.stderr)
    assert match, res.stderr
    return float(match.group(1))


def best_match(frame: Path, around: int, out: Path, spread: int = 2) -> tuple[int, float, float]:
    """(source frame most like ``frame`` among around±spread, its PSNR, the runner-up's)."""
    scores = sorted(
        ((psnr(frame, source_frame(n, out)), n) for n in range(around - spread, around + spread + 1)
         if n >= 0),
        reverse=True,
    )  # fmt: skip
    return scores[0][1], scores[0][0], scores[1][0]


def decode_errors(video: Path) -> str:
    res = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), "-f", "null", "-"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return res.stderr.strip() + ("" if res.returncode == 0 else f" rc={res.returncode}")


def frame_count(video: Path) -> int:
    res = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(video)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return int(res.stdout.strip())


def stream_starts(video: Path) -> dict[str, float]:
    res = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time,duration",
         "-of", "csv=p=0", str(video)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    out: dict[str, float] = {}
    for line in res.stdout.split():
        kind, start, duration = line.split(",")
        out[kind] = float(start)
        out[kind + "_duration"] = float(duration)
    return out
