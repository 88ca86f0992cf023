"""Connections for the distributed mode: the libpq DSN from Settings, and connections that
notice a dead peer within seconds (TCP keepalives), so leases fail fast on a partition."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from streamer.config import Settings
from streamer.errors import ConfigError

# a silent peer is declared dead after idle + interval * count seconds
CONNECT_KWARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms: unacknowledged writes fail after this
}


def dsn_of(database_url: str) -> str:
    """The libpq DSN of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise ConfigError(f"STREAMER_DATABASE_URL is not a database URL: {exc}") from exc
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            "the procrastinate runner needs PostgreSQL: set STREAMER_DATABASE_URL="
            "postgresql+psycopg://user:password@host:5432/dbname"
        )
    return str(url.set(drivername="postgresql").render_as_string(hide_password=False))


def settings_dsn(settings: Settings) -> str:
    if settings.database_url is None:
        raise ConfigError("STREAMER_RUNNER=procrastinate needs STREAMER_DATABASE_URL on PostgreSQL")
    return dsn_of(settings.database_url)


async def connect(dsn: str, *, autocommit: bool = True) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=autocommit, **CONNECT_KWARGS)


def connect_sync(dsn: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=autocommit, **CONNECT_KWARGS)
