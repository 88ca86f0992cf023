"""Stream-copy separate video and audio into MPEG-TS segments that join the live ones.

The live segments of a run are byte-joined later (split), so a healed segment must continue
their timestamps: the caller gives the PTS its first frame must carry (from the neighbouring
live segment) and the media times at which each further segment starts. ffmpeg keeps the
source timestamps (``-copyts``), shifts them by one offset, and cuts at those times; every
cut is on a keyframe because every fragment starts with one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from streamer import procs
from streamer.capture.playlist import looks_like_ts
from streamer.errors import CaptureError, ToolError

MUX_TIMEOUT_S = 300.0
# Cut a hair before each boundary: the keyframe sitting exactly on it opens the new segment.
CUT_EPS_S = 0.0005
SEEK_PAST_S = 0.01


class MuxError(CaptureError):
    """ffmpeg could not turn the fetched media into segments."""


def _ff() -> list[str]:
    return [procs.ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-y"]


def _segment_args(offset_s: float, cuts: Sequence[float], out: Path) -> list[str]:
    times = ",".join(f"{c + offset_s - CUT_EPS_S:.6f}" for c in cuts)
    args = [
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
        "-output_ts_offset", f"{offset_s:.6f}", "-muxdelay", "0", "-muxpreload", "0",
        "-f", "segment", "-segment_format", "mpegts",
    ]  # fmt: skip
    if times:
        args += ["-segment_times", times]
    return [*args, str(out / "%06d.ts")]


def _collect(out: Path, expected: int, allow_fewer: bool = False) -> list[bytes]:
    files = sorted(out.glob("*.ts"))
    if len(files) != expected and not (allow_fewer and 0 < len(files) < expected):
        raise MuxError(f"mux made {len(files)} segments where {expected} were expected")
    data = [f.read_bytes() for f in files]
    if not all(looks_like_ts(d) for d in data):
        raise MuxError("mux output is not MPEG-TS")
    return data


def mux_fragments(
    video: bytes,
    audio: bytes,
    *,
    first_media_s: float,
    first_pts_s: float,
    cuts: Sequence[float],
    workdir: Path | None = None,
) -> list[bytes]:
    """``video``/``audio``: an init followed by consecutive fragments (moof/mdat).

    ``cuts``: media times where the 2nd, 3rd... segment start. Returns ``len(cuts) + 1``
    TS segments whose first video frame carries PTS ``first_pts_s``.
    """
    tmp = Path(tempfile.mkdtemp(prefix="mux-", dir=workdir))
    try:
        (tmp / "v.mp4").write_bytes(video)
        (tmp / "a.mp4").write_bytes(audio)
        out = tmp / "out"
        out.mkdir()
        offset = first_pts_s - first_media_s
        args = [
            *_ff(), "-copyts", "-i", str(tmp / "v.mp4"), "-copyts", "-i", str(tmp / "a.mp4"),
            *_segment_args(offset, cuts, out),
        ]  # fmt: skip
        try:
            procs.run(args, timeout=MUX_TIMEOUT_S)
        except ToolError as exc:
            raise MuxError(f"mux failed: {exc}") from exc
        return _collect(out, len(cuts) + 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mux_ranges(
    video_url: str,
    audio_url: str,
    *,
    start_s: float,
    end_s: float,
    first_pts_s: float,
    cuts: Sequence[float],
    workdir: Path | None = None,
) -> list[bytes]:
    """Cut ``[start_s, end_s)`` of whole (archive) files over HTTP, as :func:`mux_fragments`
    does for fragments: ffmpeg reads only the byte ranges it needs."""
    tmp = Path(tempfile.mkdtemp(prefix="mux-", dir=workdir))
    try:
        out = tmp / "out"
        out.mkdir()
        # a seek in copy mode lands on the keyframe at or before the target: aim just past
        # the wanted one so rounding never lands a whole GOP early
        window = ["-ss", f"{start_s + SEEK_PAST_S:.6f}", "-to", f"{end_s:.6f}", "-copyts"]
        args = [
            *_ff(), *window, "-i", video_url, *window, "-i", audio_url,
            *_segment_args(first_pts_s - start_s, cuts, out),
        ]  # fmt: skip
        try:
            procs.run(args, timeout=MUX_TIMEOUT_S)
        except ToolError as exc:
            raise MuxError(f"archive cut failed: {exc}") from exc
        # the archive may end inside the last wanted segment: the caller keeps what came
        return _collect(out, len(cuts) + 1, allow_fewer=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def first_video_pts(path: Path) -> float:
    """PTS (s) of the first video packet of a TS file (one ffprobe run)."""
    result = procs.run(
        [procs.ffprobe(), "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
         "-show_entries", "packet=pts_time", "-of", "csv=p=0", str(path)],
        timeout=60,
    )  # fmt: skip
    text = result.stdout.strip().splitlines()
    try:
        return float(text[0].strip().rstrip(","))
    except (IndexError, ValueError) as exc:
        raise MuxError(f"{path}: no video timestamp") from exc
