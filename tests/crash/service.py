"""``streamer run`` for the crash harness and the soak bench: the very command, with one
difference. The simulated YouTube lives in the harness process (so it survives the
service's kills), and yt-dlp's answers for it come from the info dict the harness keeps
fresh in a file, as ``streamer record --info-json`` reads them
(``simulate/youtube_info.FileResolver``).

    CRASH_INFO_JSON=FILE python -m tests.crash.service run --port N
    CRASH_INFO_JSON=DIR  ...    (several broadcasts: DIR/{video id}.json, by the URL's v=)
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any

from streamer.simulate.youtube_info import FileResolver
from streamer.youtube import BroadcastInfo


class InfoFiles:
    """A resolver over info dict files: one file, or one per video id in a directory."""

    def __init__(self, path: Path, max_height: int) -> None:
        self.path = path
        self.max_height = max_height

    def _for(self, url: str) -> FileResolver:
        path = self.path
        if path.is_dir():
            video = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["v"][0]
            path = path / f"{video}.json"
        return FileResolver(path, self.max_height)

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        return self._for(url).extract(url, live_from_start=live_from_start)

    def resolve(self, url: str) -> BroadcastInfo:
        return self._for(url).resolve(url)


def main() -> None:
    import streamer.pipeline.orchestrator as orchestrator
    from streamer.cli import app

    info = Path(os.environ["CRASH_INFO_JSON"])

    def resolver(settings: Any) -> InfoFiles:
        return InfoFiles(info, settings.max_height)

    orchestrator.Resolver = resolver  # type: ignore[assignment,misc]
    app(prog_name="streamer")


if __name__ == "__main__":
    main()
