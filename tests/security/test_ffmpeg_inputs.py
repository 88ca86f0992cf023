"""Issue 17: a "segment" that is really an HLS playlist must not make ffmpeg open the files
it lists; what it points at never reaches a VOD."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamer import procs
from streamer.capture.timeline import TimelineWriter
from streamer.errors import SplitError
from streamer.schedule.model import Broadcast, Event, Program, Session
from streamer.split.probe import media_info
from streamer.split.session import split_session

T0 = datetime(2026, 5, 1, 1, 0, 0, tzinfo=UTC)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A red 320x240 "secret" video elsewhere on disk, and blue 160x120 HLS segments."""
    root = tmp_path_factory.mktemp("ffmpeg-inputs")
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=320x240:r=25", "-t", "4", "-c:v", "libx264",
           "-g", "50", "-pix_fmt", "yuv420p", "-f", "mpegts", str(root / "secret.ts"))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=160x120:r=25", "-t", "6", "-c:v", "libx264",
           "-g", "50", "-pix_fmt", "yuv420p", "-f", "hls", "-hls_time", "2",
           "-hls_list_size", "0", "-hls_segment_filename", str(root / "s%d.ts"),
           str(root / "index.m3u8"))  # fmt: skip
    return root


def playlist_to(target: Path) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n"
        f"file://{target}\n#EXT-X-ENDLIST\n"
    ).encode()


def test_probing_a_playlist_segment_does_not_open_what_it_lists(media: Path) -> None:
    """The split's own probe of a byte-joined piece (as the cutter builds it)."""
    evil = media / "evil.ts"
    evil.write_bytes(playlist_to(media / "secret.ts"))
    url = f"concat:{evil}|{media / 's1.ts'}"
    try:
        info = media_info(url)
    except SplitError:
        return  # not MPEG-TS: refused, nothing opened
    assert info.video is None or info.video.width != 320  # the secret's width


def test_the_passwd_playlist_never_reaches_a_vod(media: Path) -> None:
    evil = media / "passwd.ts"
    evil.write_bytes(
        b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    )
    probe = [procs.ffprobe(), "-v", "error", *procs.fetched_probe_args()]
    out = procs.run([*probe, "-show_entries", "format=format_name", "-of", "csv=p=0", str(evil)],
                    timeout=60, check=False)  # fmt: skip
    assert "hls" not in out.stdout and "root:" not in out.stdout + out.stderr


def test_a_playlist_segment_never_puts_what_it_points_at_in_a_vod(
    media: Path, tmp_path: Path
) -> None:
    rec = tmp_path / "rec" / "day1"
    with TimelineWriter(rec) as writer:
        writer.write_meta({"source_url": "https://example.org/live", "broadcast_id": "day1"})
        writer.start()
        evil = playlist_to(media / "secret.ts")
        segments = [evil, *((media / f"s{i}.ts").read_bytes() for i in range(3))]
        for i, data in enumerate(segments):
            at = T0 + timedelta(seconds=2 * i)
            writer.write_segment(1, i, data, at, 2.0, True)
        writer.end("ended", "ENDLIST")
    program = Program(
        event=Event(id="ev", title={"en": "Ev"}, timezone="UTC"),
        broadcasts=[
            Broadcast(
                id="day1", url="https://example.org/live", start=T0, end=T0 + timedelta(hours=1)
            )
        ],
        sessions=[
            Session(
                id="s", broadcast="day1", start=T0, end=T0 + timedelta(seconds=8), title={"en": "S"}
            )
        ],
    )
    try:
        result = split_session(rec, program, "s", tmp_path / "out", mode="copy")
    except SplitError:
        return  # refusing the damaged recording is fine too
    vod = result.outputs.mp4
    probe = procs.run([procs.ffprobe(), "-v", "error", "-show_entries", "stream=width,height",
                       "-of", "csv=p=0", str(vod)], timeout=60).stdout  # fmt: skip
    assert "320" not in probe
    frames = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(vod), "-vf", "scale=1:1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    reds = [frames[i] for i in range(0, len(frames), 3) if frames[i] > 150 and frames[i + 2] < 100]
    assert reds == [], f"{len(reds)} red frames from the secret file are in the VOD"
    assert b"root:" not in vod.read_bytes()
