"""Fixtures for the distributed mode: one throwaway PostgreSQL cluster per test session, and a
fresh database in it per test (tests/pgcluster.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.pgcluster import PgCluster, PostgresUnavailable, start_cluster, stop_cluster

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        # CI runs setup.sh as root, which installs them: absent binaries are a set-up fault
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://) to a database of this test's own."""
    return pg_cluster.create_database(f"t{next(_db_numbers)}")


@pytest.fixture
def pg_dsn(pg_url: str) -> str:
    """The same database as ``pg_url``, as a libpq DSN (what procrastinate and psycopg take)."""
    return pg_url.replace("postgresql+psycopg://", "postgresql://", 1)


# moto's S3 server, the split fixtures' recording and the replay broadcast, shared
from tests.capture.conftest import replay, replay_cache  # noqa: E402, F401
from tests.distributed.procs import children  # noqa: E402, F401
from tests.publish.conftest import _aws_dummies, bucket, moto_s3  # noqa: E402, F401
from tests.split.conftest import recording, source_dir  # noqa: E402, F401
