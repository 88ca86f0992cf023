"""Child processes for the distributed tests: each stands in for a machine."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Machine:
    """A Python child standing in for a machine: started from the repository, killed or
    stopped (a SIGSTOPped one is woken first, so the kill lands)."""

    proc: subprocess.Popen[str]

    def _start(self, args: list[str], env: dict[str, str] | None, out: Any, err: Any,
               prefix: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.proc = subprocess.Popen([*prefix, sys.executable, *args], cwd=ROOT, env=env,
                                     stdout=out, stderr=err, text=True)  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=30)


class Child(_Machine):
    """A Python child whose stdout lines are read in the background (``expect`` waits for one)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self._start(args, env, subprocess.PIPE, subprocess.PIPE)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float = 60.0) -> str:
        """The next line starting with ``prefix`` (earlier lines are kept in ``seen``)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"pid {self.pid}: no {prefix!r} in {timeout}s; {self.seen}")
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"pid {self.pid} ended before {prefix!r}: {self.seen}\n{err}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",  # moto checks no signatures; never real ones
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        STREAMER_ALLOW_PRIVATE_SOURCES="1",  # the simulated broadcast is on 127.0.0.1
    )
    env.update(extra)
    return env


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.stop()


class Logged(_Machine):
    """A long-running child (``streamer run`` or ``worker``) whose output goes to a log file,
    so a chatty process never blocks on a full pipe."""

    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, prefix: tuple[str, ...] = ()
    ) -> None:
        self.log = log
        with open(log, "ab") as out:
            self._start(args, env, out, subprocess.STDOUT, prefix)

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text("utf-8", errors="replace")[-n:]
