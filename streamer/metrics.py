"""Prometheus metrics that the whole service updates; ``/metrics`` exposes :data:`REGISTRY`.

A dedicated registry (not the process-global default) keeps tests and several apps in one
process from colliding. The pipeline updates these; the API only records request latency.

Usage::

    from streamer import metrics
    metrics.SESSIONS.labels(state="published").set(12)
    metrics.CAPTURED_BYTES.labels(broadcast="day1").inc(len(data))
    metrics.CAPTURED_SEGMENTS.labels(broadcast="day1").inc()
    metrics.GAPS.labels(broadcast="day1").inc()
    with metrics.PUBLISH_SECONDS.time(): ...
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)

SESSIONS = Gauge(
    "streamer_sessions",
    "Sessions by state (set by the orchestrator)",
    ["state"],
    registry=REGISTRY,
)
BROADCASTS = Gauge(
    "streamer_broadcasts",
    "Broadcasts by state (set by the orchestrator)",
    ["state"],
    registry=REGISTRY,
)
CAPTURED_BYTES = Counter(
    "streamer_captured_bytes",
    "Bytes of HLS segments written by the capture",
    ["broadcast"],
    registry=REGISTRY,
)
CAPTURED_SEGMENTS = Counter(
    "streamer_captured_segments",
    "HLS segments written by the capture",
    ["broadcast"],
    registry=REGISTRY,
)
GAPS = Counter(
    "streamer_gaps",
    "Gaps (missing segments) detected by the capture",
    ["broadcast"],
    registry=REGISTRY,
)
PUBLISH_SECONDS = Histogram(
    "streamer_publish_seconds",
    "Duration of publishing one VOD (upload, verify, metadata, index)",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
SPLIT_SECONDS = Histogram(
    "streamer_split_seconds",
    "Duration of cutting one session",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
PUBLISHED_VODS = Gauge(
    "streamer_published_vods",
    "VODs in the published index, by event (set when /metrics is scraped)",
    ["event"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "streamer_http_request_seconds",
    "HTTP request latency of the API, by route template, method and status",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
    registry=REGISTRY,
)

__all__ = [
    "BROADCASTS",
    "CAPTURED_BYTES",
    "CAPTURED_SEGMENTS",
    "CONTENT_TYPE",
    "GAPS",
    "PUBLISHED_VODS",
    "PUBLISH_SECONDS",
    "REGISTRY",
    "REQUEST_SECONDS",
    "SESSIONS",
    "SPLIT_SECONDS",
    "render",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST


def render() -> bytes:
    """The Prometheus text exposition of :data:`REGISTRY`."""
    return generate_latest(REGISTRY)
