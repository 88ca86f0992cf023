"""The orchestrator and the API in one process (``run`` and ``demo``)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator

import uvicorn

from streamer.api.app import create_app
from streamer.api.server import uvicorn_config
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.pipeline.orchestrator import Orchestrator


def _check_port(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is in use; pick another with --port"
                ) from exc
            raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc


@contextlib.asynccontextmanager
async def serve(
    settings: Settings, orch: Orchestrator, *, port: int, host: str | None = None
) -> AsyncIterator[str]:
    """Start the orchestrator and the API server; yields the base URL; stops both cleanly."""
    host = host or settings.host
    _check_port(host, port)
    app = create_app(
        settings,
        control=orch,
        programs=lambda: list(orch.programs.values()),
        ready_checks=[orch.store.ping],
    )
    config = uvicorn_config(app, settings, host=host, port=port)  # limits: docs/security.md
    server = uvicorn.Server(config)
    # the caller owns SIGINT/SIGTERM, so that captures stop cleanly before exit
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    await orch.start()
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise ConfigError(f"the API server did not start on {host}:{port}")
            await asyncio.sleep(0.05)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await orch.shutdown()
