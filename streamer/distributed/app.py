"""The procrastinate App of the distributed mode, made from Settings.

One App per process. Tasks are registered on it by ``streamer.distributed.tasks``; the worker
hands them the process's Settings through the job context (settings are read at the edge).
"""

from __future__ import annotations

from procrastinate import App, PsycopgConnector

from streamer.config import Settings
from streamer.distributed.db import CONNECT_KWARGS, settings_dsn

# queues a stage job goes to: capture is long and I/O-bound, split is CPU-bound, publish is
# network-bound, so a machine can be given the kind of work it is sized for
QUEUES = ("capture", "split", "publish")


def make_app(settings: Settings, *, pool_max: int = 10) -> App:
    """An App on ``STREAMER_DATABASE_URL`` (PostgreSQL); raises ConfigError otherwise."""
    return make_app_for_dsn(settings_dsn(settings), pool_max=pool_max)


def make_app_for_dsn(dsn: str, *, pool_max: int = 10) -> App:
    from streamer.distributed import tasks

    connector = PsycopgConnector(
        conninfo=dsn, min_size=1, max_size=pool_max, kwargs=dict(CONNECT_KWARGS)
    )
    app = App(connector=connector)
    tasks.register(app)
    return app
