"""The seam for scale-out: the orchestrator hands stage work to a Runner.

The embedded runner runs stages in this process, in worker threads, a bounded number at a
time. A distributed runner (procrastinate, Celery) would enqueue the same stage functions:
they take ``(settings, ids)`` and touch only the state DB and storage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Runner(Protocol):
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one stage function to completion and return its result."""
        ...


class InProcessRunner:
    """Runs stages in threads; at most ``max_parallel`` at once (ffmpeg is CPU-bound)."""

    def __init__(self, max_parallel: int = 2) -> None:
        self._max = max_parallel
        self._sem: asyncio.Semaphore | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._sem is None:  # created lazily, inside the running loop
            self._sem = asyncio.Semaphore(self._max)
        async with self._sem:
            return await asyncio.to_thread(fn, *args)
