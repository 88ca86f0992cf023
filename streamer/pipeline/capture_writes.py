"""A capture's bookkeeping in the state DB: its broadcast's state and its recording row,
queued in order on the writer thread, and nothing once its lease is lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from streamer.errors import IllegalTransition, StateError
from streamer.pipeline.db_writes import DbWrites
from streamer.pipeline.states import BroadcastState
from streamer.pipeline.store import BroadcastView, Store

log = logging.getLogger(__name__)


class CaptureWrites:
    """The state DB writes of one :class:`~streamer.pipeline.capture_task.Captures`."""

    def __init__(self, store: Store, writes: DbWrites, owned: Callable[[], bool]) -> None:
        self.store = store
        self.writes = writes
        self.owned = owned

    async def saved(self, event_id: str, broadcast_id: str, **fields: Any) -> None:
        await asyncio.wrap_future(self.save(event_id, broadcast_id, **fields))

    def mark(self, b: BroadcastView, target: BroadcastState, reason: str | None) -> Future[None]:
        """Queue a state change (ordered after this broadcast's earlier writes); done when
        written or given up (logged)."""
        if not self.owned():
            log.warning("%s.%s: lease lost, %s not recorded", b.event_id, b.id, target)
            return _done()
        event_id, broadcast_id = b.event_id, b.id

        def write() -> None:
            if not self.owned():  # lost while the write waited (a long DB lock)
                return
            try:
                self.store.set_broadcast_state(event_id, broadcast_id, target, reason)
            except IllegalTransition as exc:
                log.warning("%s", exc)
            except StateError as exc:  # e.g. the data disk is full under the DB: record on
                log.error(
                    "%s.%s: state %s (%s) not saved: %s",
                    event_id,
                    broadcast_id,
                    target,
                    reason,
                    exc,
                )

        return self.writes.submit(write, key=f"{event_id}.{broadcast_id}")

    def save(self, event_id: str, broadcast_id: str, **fields: Any) -> Future[None]:
        """Bookkeeping only (the timeline is the truth): a DB that cannot be written (locked
        too long, its disk full) must not stop a capture. Nothing once the lease is lost."""
        if not self.owned():
            return _done()
        return self.writes.submit(
            lambda: self.save_now(event_id, broadcast_id, fields),
            key=f"{event_id}.{broadcast_id}",
        )

    def save_now(self, event_id: str, broadcast_id: str, fields: dict[str, Any]) -> None:
        if not self.owned():  # lost while the write waited (a long DB lock)
            return
        try:
            self.store.save_recording(event_id, broadcast_id, **fields)
        except StateError as exc:
            log.error("%s.%s: recording row not saved: %s", event_id, broadcast_id, exc)

    def progress_write(self, event_id: str, broadcast_id: str) -> Callable[[dict[str, Any]], None]:
        def write(fields: dict[str, Any]) -> None:
            self.save_now(event_id, broadcast_id, fields)

        return write


def _done() -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done
