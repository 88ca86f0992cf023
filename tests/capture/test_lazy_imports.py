"""yt-dlp (about a CPU-second to import) is imported when something is resolved, never by
loading the CLI, the recorder or the service: the per-broadcast path pays nothing for it."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_recorder_and_the_service_does_not_import_yt_dlp() -> None:
    code = (
        "import sys, streamer.cli, streamer.capture.hls, streamer.capture.poller, "
        "streamer.pipeline.capture_task, streamer.service.serve\n"
        "yt = [m for n, m in sys.modules.items() if n.startswith('streamer.youtube')]\n"
        "print('yt_dlp' in sys.modules, any('yt_dlp' in m.__dict__ for m in yt), len(yt) > 1)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["False", "False", "True"]
