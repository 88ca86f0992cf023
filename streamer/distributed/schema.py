"""The distributed mode's tables: procrastinate's schema and streamer's own (leases, workers).

Applied at every worker and planner start, idempotently and under a transaction-level
advisory lock, so several machines starting at once do not race each other's DDL.
"""

from __future__ import annotations

from typing import Any

import psycopg
from procrastinate.schema import SchemaManager

from streamer.distributed.db import connect

SCHEMA_LOCK_KEY = 0x73747265616D_02

STREAMER_TABLES = """
CREATE TABLE IF NOT EXISTS streamer_capture_leases (
    broadcast_id text PRIMARY KEY,
    owner text NOT NULL,
    token bigint NOT NULL,
    acquired_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
-- the media team's "stop": the holder sees it at its next renewal and stops cleanly
ALTER TABLE streamer_capture_leases
    ADD COLUMN IF NOT EXISTS stop_requested boolean NOT NULL DEFAULT false;
CREATE TABLE IF NOT EXISTS streamer_workers (
    name text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    queues text[] NOT NULL,
    concurrency integer NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    procrastinate_worker_id bigint
);
"""


async def ensure_schema(dsn: str) -> bool:
    """Create what is missing; True when procrastinate's schema was applied just now."""
    conn: psycopg.AsyncConnection[Any]
    async with await connect(dsn, autocommit=False) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NULL")
        row = await cur.fetchone()
        applied = bool(row and row[0])
        if applied:
            # procrastinate ships the SQL and vouches for it; no parameters are bound
            await conn.execute(SchemaManager.get_schema())
        await conn.execute(STREAMER_TABLES)
    return applied
