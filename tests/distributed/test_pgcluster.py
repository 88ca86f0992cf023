"""The throwaway cluster itself: it starts, serves two databases apart, and stops clean."""

from __future__ import annotations

import psycopg

from tests.pgcluster import PgCluster, start_cluster, stop_cluster


def test_cluster_serves_separate_databases(pg_cluster: PgCluster, pg_dsn: str) -> None:
    other = pg_cluster.create_database("separate_check")
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE here (x int)")
        conn.commit()
    with psycopg.connect(other.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT to_regclass('here') IS NULL").fetchone()
        assert row == (True,)


def test_start_and_stop_leave_nothing_behind() -> None:
    cluster = start_cluster()
    root = cluster.root
    with psycopg.connect(cluster.dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    stop_cluster(cluster)
    assert not root.exists()
