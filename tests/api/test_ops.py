"""/healthz, /readyz (storage and DB checks) and /metrics (Prometheus text)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from streamer import metrics
from streamer.api.app import create_app
from streamer.config import Settings
from tests.api.conftest import EVENT_ID, Catalog


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_checks_storage_and_database(settings: Settings, catalog: Catalog) -> None:
    engine = create_engine(settings.db_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    def check_database() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    app = create_app(settings, storage=catalog.storage, ready_checks=[check_database])
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok", "checks": {"storage": "ok", "database": "ok"}}

    broken = create_engine(f"sqlite:///{settings.data_dir}/missing-dir/x.db")

    def check_database_down() -> None:
        with broken.connect() as conn:
            conn.execute(text("SELECT 1"))

    app = create_app(settings, storage=catalog.storage, ready_checks=[check_database_down])
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["storage"] == "ok"
        # the public side says which check failed, not why (paths, SQL): that is in the log
        assert body["checks"]["database_down"] == "error"
        assert "sqlite" not in r.text and "/" not in body["checks"]["database_down"]


def test_readyz_storage_unreachable(
    settings: Settings, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 on a port where nothing listens: the app starts, readiness says why it is not ready."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    s3 = Settings.model_validate(
        {
            **settings.model_dump(),
            "storage": "s3://vods/forum",
            "s3_endpoint_url": f"http://127.0.0.1:{free_port}",
            "s3_retry_total_s": 0.1,
        }
    )
    app = create_app(s3)
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["storage"] == "error"
        assert c.get("/healthz").status_code == 200
        # the public API says so too, as JSON
        api = c.get("/api/v1/vods")
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "storage_unavailable"
        # and there is no /media without a local store
        assert c.get("/media/x/y.mp4").status_code == 404


def test_metrics(client: TestClient) -> None:
    client.get("/api/v1/vods")
    client.get(f"/api/v1/vods/{EVENT_ID}.nope")
    metrics.SESSIONS.labels(state="published").set(7)
    metrics.CAPTURED_BYTES.labels(broadcast="day1").inc(1000)
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text_ = r.text
    assert (
        'streamer_http_request_seconds_count{method="GET",route="/api/v1/vods",status="200"}'
        in text_
    )
    assert 'route="/api/v1/vods/{vod_id}",status="404"' in text_
    assert 'streamer_sessions{state="published"} 7.0' in text_
    assert f'streamer_published_vods{{event="{EVENT_ID}"}} 7.0' in text_
    for name in (
        "streamer_captured_bytes_total",
        "streamer_captured_segments",
        "streamer_gaps",
        "streamer_publish_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text_
