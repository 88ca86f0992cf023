"""Bad input: each ends in a clear error or a recorded gap, and nothing written is damaged."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from streamer.capture.hls import Progress, RecordResult, record
from streamer.capture.timeline import Timeline
from streamer.simulate import M3U8_TYPE, HttpServer, ReplayServer, Response, serve_status
from tests.capture.conftest import ROOT

HTML = (200, "text/html; charset=utf-8", b"<!doctype html><html><body>Hello</body></html>")


def _server(routes: dict[str, Response]) -> HttpServer:
    return HttpServer(lambda path: routes.get(path))


def test_unreachable_host_fails_clearly_and_writes_nothing(tmp_path: Path, free_port: int) -> None:
    url = f"http://127.0.0.1:{free_port}/live.m3u8"
    result = asyncio.run(record(url, tmp_path / "rec", duration_s=5))
    assert result.state == "failed"
    assert url in result.reason and "refused" in result.reason.lower()
    assert not (tmp_path / "rec").exists()


def test_a_web_page_is_not_a_stream(tmp_path: Path) -> None:
    server = _server({"/page": HTML})
    try:
        result = asyncio.run(record(f"{server.base}/page", tmp_path / "rec", duration_s=5))
    finally:
        server.close()
    assert result.state == "failed"
    assert "not a broadcast or HLS stream" in result.reason
    assert not (tmp_path / "rec").exists()


def test_html_where_the_media_playlist_should_be(tmp_path: Path) -> None:
    master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nmedia.m3u8\n"
    server = _server({"/live.m3u8": (200, M3U8_TYPE, master), "/media.m3u8": HTML})
    try:
        result = asyncio.run(record(f"{server.base}/live.m3u8", tmp_path / "rec", duration_s=5))
    finally:
        server.close()
    assert result.state == "failed"
    assert "HTML page where an HLS playlist should be" in result.reason
    assert f"{server.base}/media.m3u8" in result.reason
    assert not (tmp_path / "rec").exists()


def test_empty_playlist_stalls_with_a_clear_reason(tmp_path: Path) -> None:
    empty = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n"
    server = _server({"/live.m3u8": (200, M3U8_TYPE, empty)})
    try:
        result = asyncio.run(
            record(f"{server.base}/live.m3u8", tmp_path / "rec", stall_timeout_s=3)
        )
    finally:
        server.close()
    assert result.state == "stalled"
    assert "never listed a segment" in result.reason
    assert Timeline.load(tmp_path / "rec").end_state == "stalled"


def test_leftover_endlist_playlist_is_not_recorded_as_live(tmp_path: Path) -> None:
    vod = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nseg1.ts\n#EXT-X-ENDLIST\n"
    server = _server({"/live.m3u8": (200, M3U8_TYPE, vod)})
    try:
        result = asyncio.run(record(f"{server.base}/live.m3u8", tmp_path / "rec"))
    finally:
        server.close()
    assert result.state == "ended"
    assert "not live" in result.reason
    assert not (tmp_path / "rec").exists()


def test_segment_404_and_garbage_become_gaps_and_5xx_is_retried(
    tmp_path: Path, replay: ReplayServer
) -> None:
    # the faults follow the first segment the recorder asks for (it downloads in order), not
    # the clock: a recorder that a loaded machine starts late still meets all three inside
    first: list[int] = []
    flaky_calls = {"n": 0}
    lock = threading.Lock()

    def fault(stream: int, seq: int) -> Response | None:
        with lock:
            first[:] = first or [seq]
        if seq == first[0] + 3:  # missing
            return serve_status(404)
        if seq == first[0] + 5:  # garbage
            return (200, "video/mp2t", b"<html>definitely not MPEG-TS</html>" * 20)
        if seq == first[0] + 7:  # flaky
            with lock:
                flaky_calls["n"] += 1
                if flaky_calls["n"] <= 2:
                    return serve_status(503)
        return None

    replay.fault = fault

    async def main() -> RecordResult:
        stop = asyncio.Event()

        def progress(p: Progress) -> None:
            # stopped in stream terms, once past the flaky segment (a wall-time duration is
            # eaten by a slow start on a loaded machine)
            seq = p.last_seq
            if first and seq is not None and seq >= first[0] + 8 and flaky_calls["n"] >= 3:
                stop.set()

        return await record(
            replay.url(0), tmp_path / "rec", stop=stop, on_progress=progress, duration_s=120
        )

    result = asyncio.run(main())
    assert result.state == "stopped", result.reason
    missing, garbage, flaky = (first[0] + k for k in (3, 5, 7))
    timeline = Timeline.load(tmp_path / "rec")
    seqs = {s.seq for s in timeline.segments}
    assert missing not in seqs and garbage not in seqs
    assert flaky in seqs and flaky_calls["n"] == 3  # two 503s, then it came
    gaps = timeline.gaps()
    assert len(gaps) == 2, timeline.to_json()
    assert all(0.5 < g.duration_s <= 1.5 for g in gaps)
    reasons = [g.reason for g in timeline.explicit_gaps]
    assert reasons == [f"segment {missing} missed", f"segment {garbage} missed"]
    assert result.gaps == 2
    assert len(timeline.parts()) == 1


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_disk_full_fails_clearly_and_keeps_complete_segments(
    tmp_path: Path, replay: ReplayServer
) -> None:
    """A real ENOSPC: the recording goes onto a 600 KB tmpfs in a private mount namespace."""
    probe = subprocess.run(
        ["unshare", "-rm", "true"], capture_output=True, text=True, timeout=20, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"unprivileged mount namespaces unavailable: {probe.stderr.strip()}")
    out = tmp_path / "small"
    out.mkdir()
    check = (
        "import json,sys; from pathlib import Path; from streamer.capture.timeline import Timeline;"
        "t=Timeline.load(Path(sys.argv[1]));"
        "print(json.dumps({'segs':[[s.file,s.bytes,(t.directory/s.file).stat().st_size]"
        " for s in t.segments],'tmp':[str(p) for p in t.directory.rglob('*.tmp')],"
        "'state':t.end_state,'reason':t.end_reason}))"
    )
    script = (
        'mount -t tmpfs -o size=600k tmpfs "$1" && '
        '"$2" -m streamer record "$3" --out "$1" --duration 40; echo "rc=$?"; '
        '"$2" -c "$4" "$1"'
    )
    proc = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            script,
            "sh",
            str(out),
            sys.executable,
            replay.url(0),
            check,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    assert any(line.startswith("failed: disk full") for line in lines), proc.stdout + proc.stderr
    assert "rc=4" in lines, proc.stdout
    report = json.loads(lines[-1])
    assert len(report["segs"]) >= 3
    assert all(expected == actual for _, expected, actual in report["segs"])
    assert report["tmp"] == []


def test_expiring_manifest_url_is_re_resolved_without_losing_segments(
    tmp_path: Path, replay_cache: Path
) -> None:
    """Like googlevideo URLs: the variant URL carries a token that expires (then 403)."""
    source = ReplayServer(
        replay_cache, width=320, height=180, count=6, window=12, video_bitrate="300k"
    )
    source.prepare()
    per_token = 4  # segments a token serves before it expires: counted, not timed
    forbidden = {"n": 0}
    live = {"token": 0, "left": per_token}
    served: set[int] = set()  # the tokens under which segments were served

    def token() -> int:
        return live["token"]

    def route(path: str) -> Response | None:
        if path == "/live.m3u8":
            master = f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nt{token()}/media.m3u8\n"
            return (200, M3U8_TYPE, master.encode())
        match = re.fullmatch(r"/t(\d+)/(media\.m3u8|seg(\d+)\.ts)", path)
        if not match:
            return None
        if int(match.group(1)) != token():
            forbidden["n"] += 1
            return serve_status(403)
        if match.group(3) is None:
            return (200, M3U8_TYPE, source.playlist().encode())
        served.add(token())
        live["left"] -= 1
        if live["left"] == 0:  # the next request under this token is refused
            live["token"] += 1
            live["left"] = per_token
        return (200, "video/mp2t", source._segments[int(match.group(3)) % source.count])

    server = HttpServer(route)
    try:
        result = asyncio.run(record(f"{server.base}/live.m3u8", tmp_path / "rec", duration_s=15))
    finally:
        server.close()
    assert result.state == "stopped", result.reason
    assert forbidden["n"] >= 1  # the old URL really was refused
    timeline = Timeline.load(tmp_path / "rec")
    assert timeline.gaps() == [], timeline.to_json()
    assert len(timeline.parts()) == 1
    # the recording went on under a new token
    assert len(served) >= 2, served
