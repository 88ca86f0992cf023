"""``streamer run`` for the crash harness: the very command, with one difference. The
simulated YouTube lives in the harness process (so it survives the service's kills), and
yt-dlp's answers for it come from the info dict the harness keeps fresh in a file, as
``streamer record --info-json`` reads them (``simulate/youtube_info.FileResolver``).

    python -m tests.crash.service run --port N      (CRASH_INFO_JSON=path)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def main() -> None:
    import streamer.pipeline.orchestrator as orchestrator
    from streamer.cli import app
    from streamer.simulate.youtube_info import FileResolver

    info = Path(os.environ["CRASH_INFO_JSON"])

    def resolver(settings: Any) -> FileResolver:
        return FileResolver(info, settings.max_height)

    orchestrator.Resolver = resolver  # type: ignore[assignment,misc]
    app(prog_name="streamer")


if __name__ == "__main__":
    main()
