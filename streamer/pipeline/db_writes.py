"""The capture tasks' writes to the state DB, off the event loop.

A SQLite file locked by another process (a backup, an operator's shell) makes a write wait up
to the busy timeout; on the event loop that wait would stall every recording's segment fetches.
Here the writes run on one thread of their own, in the order they were asked for. Progress
rows coalesce: while a broadcast's progress write waits, a newer one replaces its fields, so
the queue holds at most one per broadcast however long the lock lasts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

# Writes other than coalesced progress waiting at once before new progress is dropped (the
# timeline is the truth; a later progress write or the final row carries the figures).
MAX_PENDING = 1000


class DbWrites:
    """An ordered queue of state DB writes run on a single thread."""

    def __init__(self, *, max_pending: int = MAX_PENDING) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-db")
        self._lock = threading.Lock()
        self._pending = 0
        self.max_pending = max_pending
        # key → fields of the progress write queued for it that has not started yet
        self._progress: dict[str, dict[str, Any]] = {}
        self._last: Future[None] | None = None

    @property
    def pending(self) -> int:
        """Writes queued or running."""
        with self._lock:
            return self._pending

    def submit(self, fn: Callable[[], None], key: str | None = None) -> Future[None]:
        """Run ``fn`` after every write asked for before it (never dropped); done when it
        ran. A later progress write of ``key`` comes after it, not merged into one before."""
        with self._lock:
            if key is not None:
                self._progress.pop(key, None)
            self._pending += 1
            self._last = done = self._pool.submit(self._run, fn)
            return done

    def progress(self, key: str, write: Callable[[dict[str, Any]], None], **fields: Any) -> bool:
        """Queue ``write(fields)`` for ``key``, merged into the one already waiting for it;
        False when dropped (the queue is full)."""
        with self._lock:
            waiting = self._progress.get(key)
            if waiting is not None:
                waiting.update(fields)
                return True
            if self._pending >= self.max_pending:
                return False
            queued = self._progress[key] = dict(fields)
            self._pending += 1
            self._last = self._pool.submit(self._run_progress, key, queued, write)
            return True

    def _run_progress(
        self, key: str, fields: dict[str, Any], write: Callable[[dict[str, Any]], None]
    ) -> None:
        with self._lock:  # from here a newer progress queues a write of its own
            if self._progress.get(key) is fields:
                del self._progress[key]
            fields = dict(fields)
        self._run(lambda: write(fields))

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # a bookkeeping write must not kill the writer
            log.exception("state DB write failed")
        finally:
            with self._lock:
                self._pending -= 1

    async def flush(self) -> None:
        """Wait until every write asked for so far is done."""
        with self._lock:
            last = self._last
        if last is not None:
            await asyncio.wrap_future(last)

    def close(self) -> None:
        """Finish the queued writes (blocking) and stop the thread."""
        self._pool.shutdown(wait=True)


_SHARED: DbWrites | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> DbWrites:
    """The process's writer: one thread for every capture (they share one DB file, so a
    second thread would only wait on the same lock)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = DbWrites()
        return _SHARED
