"""Fixtures shared by every area. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from streamer.config import Settings

TEST_TOKEN = "test-admin-token-0123456789abcdefghijklmnop"  # >= 32 characters
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
# Debian's Chromium, as the machine's notes say to start it (closed network, root, headless)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh data dir, the embedded defaults otherwise."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        schedules=tmp_path / "schedules",
        admin_token=TEST_TOKEN,  # type: ignore[arg-type]
        # the simulated broadcasts and webhook receivers of the tests are on 127.0.0.1
        allow_private_sources=True,
    )


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
