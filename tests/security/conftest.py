"""A real API server in a child process, on a socket bound to port 0 by the test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, TEST_TOKEN


@dataclass
class ServerProcess:
    url: str
    host: str
    port: int
    proc: subprocess.Popen[bytes]

    def status(self, key: str) -> int:
        """A /proc/PID/status field in kB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)


StartServer = Callable[..., ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        port = sock.getsockname()[1]
        data = tmp_path / f"data{len(started)}"
        (data / "public").mkdir(parents=True)
        full_env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "STREAMER_ADMIN_TOKEN": TEST_TOKEN,
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.security.server", str(sock.fileno()), str(data)],
            pass_fds=[sock.fileno()],
            env=full_env,
            cwd=str(ROOT),
        )
        sock.close()
        server = ServerProcess(f"http://127.0.0.1:{port}", "127.0.0.1", port, proc)
        started.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                time.sleep(0.05)  # polling for start-up, bounded by the deadline
        raise RuntimeError("the server did not come up")

    yield start
    for server in started:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
