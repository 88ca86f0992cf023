"""The capture's sense of time, injected: the system clock, or a fake one for scenarios.

:class:`FakeClock` advances only when something sleeps on it, so a scenario of minutes runs
in the time its HTTP requests take, and tests never depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float, stop: asyncio.Event | None = None) -> None: ...


class SystemClock:
    """The real clock; ``sleep`` wakes early when ``stop`` is set."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float, stop: asyncio.Event | None = None) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        if stop is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


class FakeClock:
    """Simulated time: ``sleep`` moves it forward at once. Threads (a resolver in a worker
    thread, a loopback server) may read it and wait for it with :meth:`wait_until`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
        self._elapsed = 0.0
        self._changed = threading.Condition()
        self._holds = 0

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._elapsed += max(0.0, seconds)
            self._changed.notify_all()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Stop time while a thread works (a resolve that should take no simulated time):
        sleepers wait, in real time, until it is done."""
        with self._changed:
            self._holds += 1
        try:
            yield
        finally:
            with self._changed:
                self._holds -= 1

    async def sleep(self, seconds: float, stop: asyncio.Event | None = None) -> None:
        while self._holds:
            await asyncio.sleep(0.005)
        self.advance(seconds)
        # let other tasks and finished threads run, as a real sleep would
        await asyncio.sleep(0.001)

    def wait_until(self, moment: datetime, real_timeout_s: float = 30.0) -> bool:
        """Block a thread until the fake time reaches ``moment`` (False on the real timeout)."""
        deadline = time.monotonic() + real_timeout_s
        with self._changed:
            while self.now() < moment:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.05))
        return True


SYSTEM_CLOCK = SystemClock()
