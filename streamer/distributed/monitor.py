"""What operators see of the distributed mode: workers, queue depth and job durations, for
``status``, ``/api/v1/admin/status`` and ``/metrics`` (read from PostgreSQL on demand)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from streamer.distributed.app import QUEUES
from streamer.distributed.db import connect_sync
from streamer.distributed.workers import HEARTBEAT_S

_WORKERS = (
    "SELECT w.name, w.host, w.pid, w.queues, w.concurrency, w.heartbeat_at,"
    " coalesce(json_agg(json_build_object('id', j.id, 'task', j.task_name, 'args', j.args)"
    " ORDER BY j.id) FILTER (WHERE j.id IS NOT NULL), '[]')"
    " FROM streamer_workers w LEFT JOIN procrastinate_jobs j"
    " ON j.worker_id = w.procrastinate_worker_id AND j.status = 'doing'"
    " WHERE w.heartbeat_at > now() - %s * interval '1 second'"
    " GROUP BY w.name ORDER BY w.name"
)
_DEPTH = "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2"
# started → finished of each job that ended, per task (the events table keeps every job's)
_DURATIONS = (
    "SELECT j.task_name, count(*), coalesce(sum(extract(epoch FROM f.at - s.at)), 0)"
    " FROM procrastinate_jobs j"
    " JOIN procrastinate_events s ON s.job_id = j.id AND s.type = 'started'"
    " JOIN procrastinate_events f ON f.job_id = j.id AND f.type IN ('succeeded', 'failed')"
    " GROUP BY j.task_name"
)


def unserved(listened: set[str]) -> list[str]:
    """A warning per queue no live worker takes jobs from ("*": every queue)."""
    if "*" in listened:
        return []
    return [
        f"no worker takes the {queue!r} queue: its jobs wait"
        f" (start `streamer worker --queues {queue}`)"
        for queue in QUEUES
        if queue not in listened
    ]


def snapshot(dsn: str) -> dict[str, Any]:
    """``{"workers": [...], "queues": {queue: {status: n}}}`` (times as ISO strings)."""
    with connect_sync(dsn) as conn:
        workers = conn.execute(_WORKERS, (6 * HEARTBEAT_S,)).fetchall()
        depth = conn.execute(_DEPTH).fetchall()
    queues: dict[str, dict[str, int]] = {}
    for queue, status, n in depth:
        queues.setdefault(queue, {})[status] = int(n)
    listened = {q for w in workers for q in w[3]}
    return {
        "queue_warnings": unserved(listened),
        "workers": [
            {
                "name": w[0],
                "host": w[1],
                "pid": w[2],
                "queues": list(w[3]),
                "concurrency": w[4],
                "last_heartbeat": w[5].isoformat(),
                "running": list(w[6]),
            }
            for w in workers
        ],
        "queues": queues,
    }


class QueueCollector(Collector):
    """Prometheus collector: queue depth by queue and status, job durations by task, and
    live workers; it asks the database at each scrape and reports nothing when it cannot."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def describe(self) -> list[Metric]:
        return []  # known only at collect time; keeps registration free of database calls

    def collect(self) -> Iterator[Metric]:
        try:
            with connect_sync(self.dsn) as conn:
                depth = conn.execute(_DEPTH).fetchall()
                durations = conn.execute(_DURATIONS).fetchall()
                row = conn.execute(
                    "SELECT count(*) FROM streamer_workers"
                    " WHERE heartbeat_at > now() - %s * interval '1 second'",
                    (6 * HEARTBEAT_S,),
                ).fetchone()
        except psycopg.Error:
            return
        jobs = GaugeMetricFamily(
            "streamer_queue_jobs",
            "Jobs in the queue by queue and status",
            labels=["queue", "status"],
        )
        for queue, status, n in depth:
            jobs.add_metric([queue, status], float(n))
        yield jobs
        seconds = SummaryMetricFamily(
            "streamer_job_seconds", "Run time of finished stage jobs by task", labels=["task"]
        )
        for task, count, total in durations:
            seconds.add_metric([task], count_value=int(count), sum_value=float(total))
        yield seconds
        workers = GaugeMetricFamily("streamer_workers", "Workers with a recent heartbeat")
        workers.add_metric([], float(row[0] if row else 0))
        yield workers
