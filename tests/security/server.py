"""Runs the API in its own process on an inherited listening socket (for RSS and slow-client
tests, which must measure or stress a server that is not the test process).

    python -m tests.security.server FD DATA_DIR
Settings come from the environment (STREAMER_*).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn

from streamer.api.app import create_app
from streamer.api.server import uvicorn_config
from streamer.config import Settings
from streamer.publish.local import LocalStorage


def main() -> None:
    fd, data_dir = int(sys.argv[1]), Path(sys.argv[2])
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    app = create_app(settings, storage=LocalStorage(data_dir / "public"))
    config = uvicorn_config(app, settings, host="127.0.0.1", port=0, lifespan="on")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


if __name__ == "__main__":
    main()
