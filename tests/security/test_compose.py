"""Issue 17: docker/compose.yaml gives the app a bucket-scoped user, and publishes MinIO's
ports on loopback only."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT


def test_compose_app_credentials_and_ports() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    app_env = services["streamer"]["environment"]
    assert "MINIO_ROOT" not in app_env["AWS_ACCESS_KEY_ID"]
    assert "MINIO_ROOT" not in app_env["AWS_SECRET_ACCESS_KEY"]
    scale_env = services["planner"]["environment"]  # the scale profile: same bucket-scoped user
    assert "MINIO_ROOT" not in scale_env["AWS_ACCESS_KEY_ID"]
    assert "MINIO_ROOT" not in scale_env["AWS_SECRET_ACCESS_KEY"]
    setup = services["createbucket"]["entrypoint"]
    assert "mc admin user add" in setup and "policy attach" in setup
    assert "arn:aws:s3:::vods/*" in setup
    for name, service in services.items():
        if name in ("streamer", "planner"):  # the API, public by design
            continue
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"
