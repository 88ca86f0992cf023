"""Real cuts of the fixture recording: first frame, duration, A/V start, joins, idempotency."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from streamer import vod
from streamer.errors import SplitError
from streamer.split import SplitResult, split_session
from streamer.split.thumbnail import frame_stats, is_blank
from tests.split.conftest import (
    FPS,
    Recording,
    at,
    best_match,
    decode_errors,
    frame_count,
    stream_starts,
    vod_frame,
)

FRAME = 1 / FPS
AAC_FRAME = 1024 / 48000

Cutter = Callable[..., SplitResult]


@pytest.fixture(scope="module")
def cuts(recording: Recording, split_out: Path) -> Cutter:
    """Cut each (session, mode) once per module; tests read the results."""
    done: dict[tuple[str, str], SplitResult] = {}

    def get(session_id: str, mode: str = "exact") -> SplitResult:
        if (session_id, mode) not in done:
            done[(session_id, mode)] = split_session(
                recording.directory,
                recording.program,
                session_id,
                split_out / mode,
                mode=mode,  # type: ignore[arg-type]
            )
        return done[(session_id, mode)]

    return get


def check_frame(video: Path, index: int, expected: int, work: Path) -> None:
    """Frame ``index`` of the VOD is source frame ``expected``, clearly better than neighbours."""
    n, best, runner_up = best_match(vod_frame(video, index, work), expected, work)
    assert n == expected, f"VOD frame {index} looks like source frame {n}, not {expected}"
    assert best > 30 and best - runner_up > 6, (best, runner_up)


def test_exact_cut_starts_and_ends_on_the_right_frames(cuts: Cutter, tmp_path: Path) -> None:
    res = cuts("mid")
    mp4 = res.outputs.mp4
    assert decode_errors(mp4) == ""
    # 10:00:05.3 shows frame 132 (5.28-5.32 s); 10:00:13.7 is inside frame 342
    check_frame(mp4, 0, 132, tmp_path)
    assert frame_count(mp4) == 343 - 132
    check_frame(mp4, 343 - 132 - 1, 342, tmp_path)
    starts = stream_starts(mp4)
    assert abs(starts["video"] - starts["audio"]) < FRAME
    assert res.record.duration_s == pytest.approx(8.4, abs=FRAME + AAC_FRAME)
    assert starts["audio_duration"] == pytest.approx(8.44, abs=AAC_FRAME)


def test_record_fields(cuts: Cutter, recording: Recording) -> None:
    res = cuts("mid")
    data = json.loads(res.outputs.json.read_text())
    rec = vod.VodRecord.model_validate(data)
    assert rec.id == "testcon.mid" and rec.event_id == "testcon" and rec.broadcast_id == "day1"
    assert rec.start == "2026-05-01T10:00:05.300+09:00"
    assert rec.end == "2026-05-01T10:00:13.700+09:00"
    assert rec.scheduled_start == rec.start and rec.day == "2026-05-01"
    assert (rec.width, rec.height, rec.video_codec, rec.audio_codec) == (320, 180, "h264", "aac")
    assert rec.size_bytes == res.outputs.mp4.stat().st_size
    import hashlib

    assert rec.sha256 == hashlib.sha256(res.outputs.mp4.read_bytes()).hexdigest()
    assert rec.status == "complete" and rec.coverage == 1.0 and rec.gaps == []
    assert rec.source_url is None  # only a canonical YouTube watch URL is made public
    assert rec.media_url is None and rec.published_at is None and rec.version == 0
    assert rec.title["ko"] == "세션 mid" and rec.speakers[0].name == "Kim"
    event = json.loads((res.outputs.json.parent / "event.json").read_text())
    assert event["id"] == "testcon" and event["timezone"] == "Asia/Seoul"
    # faststart: the moov box comes before mdat
    head = res.outputs.mp4.read_bytes()[:200_000]
    assert 0 <= head.find(b"moov") < head.find(b"mdat")


def test_thumbnail_is_a_real_frame(cuts: Cutter, tmp_path: Path) -> None:
    jpg = cuts("mid").outputs.jpg
    assert jpg.read_bytes()[:2] == b"\xff\xd8"
    stats = frame_stats(jpg, 0.0, tmp_path / "x.gray")
    assert stats is not None and not is_blank(stats)


def test_cut_across_part_boundary_plays_through(cuts: Cutter, tmp_path: Path) -> None:
    mp4 = cuts("part").outputs.mp4
    assert decode_errors(mp4) == ""
    first = int(35.5 * FPS)  # 887
    assert frame_count(mp4) == 1183 - first
    check_frame(mp4, 0, first, tmp_path)
    check_frame(mp4, 1000 - first - 1, 999, tmp_path)  # last frame of part 1
    check_frame(mp4, 1000 - first, 1000, tmp_path)  # first frame of part 2
    starts = stream_starts(mp4)
    assert abs(starts["video"] - starts["audio"]) < FRAME
    assert starts["video_duration"] == pytest.approx(11.84, abs=FRAME)
    assert starts["audio_duration"] == pytest.approx(11.84, abs=AAC_FRAME * 2)


def test_cut_across_gap_skips_it_and_lists_it(cuts: Cutter, tmp_path: Path) -> None:
    res = cuts("gap")
    mp4 = res.outputs.mp4
    assert decode_errors(mp4) == ""
    first = int(12.5 * FPS)  # 312; 16 s is frame 400; media resumes at 20 s (frame 500)
    assert frame_count(mp4) == (400 - first) + (628 - 500)
    check_frame(mp4, 400 - first - 1, 399, tmp_path)
    check_frame(mp4, 400 - first, 500, tmp_path)
    rec = res.record
    assert rec.status == "incomplete" and rec.coverage == pytest.approx(0.6825, abs=1e-3)
    assert [g.model_dump() for g in rec.gaps] == [
        {
            "start": "2026-05-01T10:00:16+09:00",
            "end": "2026-05-01T10:00:20+09:00",
            "duration_s": 4.0,
            "reason": "no segments",
        }
    ]
    assert "incomplete" in (rec.model_extra or {})["reason"]
    assert rec.duration_s == pytest.approx(8.64, abs=FRAME + AAC_FRAME)


def test_window_ending_at_recording_end(cuts: Cutter, tmp_path: Path) -> None:
    mp4 = cuts("whole").outputs.mp4
    assert decode_errors(mp4) == ""
    assert frame_count(mp4) == 1500 - 42 * FPS
    check_frame(mp4, 0, 42 * FPS, tmp_path)


def test_missing_raises_with_reason_and_writes_nothing(
    recording: Recording, tmp_path: Path
) -> None:
    with pytest.raises(SplitError, match=r"missing: no recording covers 10:02-10:03 KST"):
        split_session(recording.directory, recording.program, "missing", tmp_path)
    assert not list(tmp_path.rglob("*.mp4"))


def test_copy_mode_is_keyframe_aligned(cuts: Cutter, tmp_path: Path) -> None:
    res = cuts("mid", "copy")
    mp4 = res.outputs.mp4
    assert decode_errors(mp4) == ""
    # keyframes every 2 s: 5.3 s widens to frame 100 (4 s), 13.7 s to frame 350 (14 s)
    check_frame(mp4, 0, 100, tmp_path)
    assert frame_count(mp4) == 350 - 100
    starts = stream_starts(mp4)
    assert abs(starts["video"] - starts["audio"]) < FRAME
    assert (res.record.model_extra or {})["split_mode"] == "copy"


def test_idempotent_skip_force_and_new_window(recording: Recording, tmp_path: Path) -> None:
    first = split_session(recording.directory, recording.program, "mid", tmp_path, mode="copy")
    mtime = first.outputs.mp4.stat().st_mtime_ns
    again = split_session(recording.directory, recording.program, "mid", tmp_path, mode="copy")
    assert again.skipped and again.record == first.record
    assert first.outputs.mp4.stat().st_mtime_ns == mtime
    forced = split_session(
        recording.directory, recording.program, "mid", tmp_path, mode="copy", force=True
    )
    assert not forced.skipped and forced.outputs.mp4.stat().st_mtime_ns != mtime
    moved = split_session(
        recording.directory, recording.program, "mid", tmp_path, mode="copy",
        start=at(6), end=at(10),
    )  # fmt: skip
    assert not moved.skipped and moved.record.start == "2026-05-01T10:00:06+09:00"
    # a damaged MP4 (size differs from the record) is redone
    with moved.outputs.mp4.open("ab") as fh:
        fh.write(b"junk")
    redo = split_session(
        recording.directory, recording.program, "mid", tmp_path, mode="copy",
        start=at(6), end=at(10),
    )  # fmt: skip
    assert not redo.skipped
    leftovers = [p.name for p in (tmp_path / "testcon").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_bad_media_fails_cleanly_and_keeps_old_outputs(
    recording: Recording, tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "rec"
    shutil.copytree(recording.directory, broken)
    out = tmp_path / "out"
    ok = split_session(broken, recording.program, "mid", out, mode="copy")
    before = ok.outputs.mp4.read_bytes()
    for ts in (broken / "part-001").glob("*.ts"):
        ts.write_bytes(b"\x00" * 4000)
    with pytest.raises(SplitError):
        split_session(broken, recording.program, "mid", out, mode="copy", force=True)
    assert ok.outputs.mp4.read_bytes() == before  # nothing half-written under the final name
    assert not [p for p in (out / "testcon").iterdir() if p.name.startswith(".")]


def test_window_starting_before_the_recording(cuts: Cutter, tmp_path: Path) -> None:
    res = cuts("edge")
    mp4 = res.outputs.mp4
    assert decode_errors(mp4) == ""
    check_frame(mp4, 0, 0, tmp_path)
    assert frame_count(mp4) == int(3.3 * FPS) + 1  # frames 0..82 (3.28 s is frame 82)
    assert res.record.start == "2026-05-01T10:00:00+09:00" and res.record.status == "incomplete"


@pytest.mark.parametrize("session_id", ["gap", "part"])
def test_copy_mode_across_gap_and_part(cuts: Cutter, session_id: str) -> None:
    mp4 = cuts(session_id, "copy").outputs.mp4
    assert decode_errors(mp4) == ""
    starts = stream_starts(mp4)
    assert abs(starts["video"] - starts["audio"]) < FRAME
    assert abs(starts["video_duration"] - starts["audio_duration"]) < FRAME + AAC_FRAME
