"""``streamer simulate --youtube`` by hand: live with a 30 s window and /sq/N/ segments, the
info dict kept fresh for ``--info-json``, post_live after the first Ctrl-C, the archive after,
and a clean exit at the second."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx

from tests.capture.conftest import ROOT, streamer_cmd
from tests.capture.yt_support import wait_for


def test_simulate_youtube_serves_live_then_post_live_then_the_archive(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    log = tmp_path / "sim.log"
    cmd = streamer_cmd(
        "simulate", "--youtube", "--out", str(out), "--duration", "600",
        "--segment-s", "2", "--size", "160x90",
    )  # fmt: skip
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: proc.poll() is not None or "record it:" in log.read_text(),
            timeout=300,
            what="the live line",
        )
        assert proc.poll() is None, log.read_text()
        info = json.loads((out / "info.json").read_text())
        assert info["live_status"] == "is_live" and info["extractor_key"] == "Youtube"
        hls = next(f["url"] for f in info["formats"] if f.get("protocol") == "m3u8_native")
        assert "playlist_duration/30" in hls
        wait_for(lambda: "/sq/" in httpx.get(hls, timeout=10).text, what="a first segment")
        start = json.loads((out / "info.from-start.json").read_text())
        assert any(f.get("is_from_start") for f in start["formats"])

        proc.send_signal(signal.SIGINT)  # the broadcast ends
        wait_for(lambda: "archive published" in log.read_text(), timeout=60, what="archive")
        assert json.loads((out / "info.json").read_text())["live_status"] == "was_live"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "ended (ENDLIST); post_live" in text
