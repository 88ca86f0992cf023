"""A capture under a lease: what a capture job runs on a worker in the distributed mode.

1. Take the broadcast's capture lease, or leave (another worker captures it).
2. Pull what earlier owners shipped into this worker's recording dir, so the recorder resumes
   after their last stored segment and refetches what the playlist window still holds.
3. Record, shipping new segments every ``ship_every_s``; every upload is fenced by the lease.
4. The moment the lease is lost (taken over, or not renewable before its local deadline) the
   recording stops and nothing more is shipped. A clean end ships the rest and frees the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from streamer.distributed.leases import CaptureLeases, LeaseKeeper, LeaseLost
from streamer.distributed.raw import RawShipper, pull
from streamer.errors import NotFound, StorageError
from streamer.publish.storage import Storage

log = logging.getLogger(__name__)
T = TypeVar("T")

# work(stop, owned) -> T: records until ``stop`` is set; ``owned()`` is False once the lease
# is lost (checked before every write the work makes outside the recording dir)
Recorder = Callable[[asyncio.Event, Callable[[], bool]], Awaitable[T]]


@dataclass(frozen=True)
class LeasedCapture(Generic[T]):
    outcome: Literal["recorded", "lost", "busy"]
    result: T | None = None
    token: int | None = None


async def capture_under_lease(
    leases: CaptureLeases,
    broadcast_key: str,
    rec_dir: Path,
    recorder: Recorder[T],
    *,
    storage: Storage | None,
    root: str,
    ship_every_s: float = 2.0,
    stop_grace_s: float = 3.0,
) -> LeasedCapture[T]:
    lease = await leases.acquire(broadcast_key)
    if lease is None:
        return LeasedCapture("busy")
    keeper = LeaseKeeper(leases, lease)
    renewing = asyncio.ensure_future(keeper.run())  # at once: pulling may outlast the lease
    stop = asyncio.Event()
    shipper: RawShipper | None = None
    try:
        if storage is not None:
            with contextlib.suppress(NotFound):  # nothing shipped yet: a fresh recording
                fetched = await asyncio.to_thread(pull, storage, root, rec_dir)
                log.info("capture of %s: %d stored segments pulled", broadcast_key, fetched)
            shipper = RawShipper(storage, root, rec_dir, fence=keeper.check)
            await asyncio.to_thread(shipper.resume)
    except BaseException:
        renewing.cancel()
        await leases.close()
        raise
    side: list[asyncio.Future[Any]] = [
        renewing,
        asyncio.ensure_future(_stop_when(keeper.lost, stop)),
        asyncio.ensure_future(_stop_when(keeper.stop_requested, stop)),
    ]
    if shipper is not None:
        side.append(asyncio.ensure_future(ship_loop(shipper, stop, ship_every_s)))
    work = asyncio.ensure_future(recorder(stop, keeper.valid))
    lost = asyncio.ensure_future(keeper.lost.wait())
    side.append(lost)
    result: T | None = None
    try:
        await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            # lost: ``stop`` is set; a recorder that does not stop in time (stuck retrying on
            # a dead link) is cancelled, so nothing of this capture outlives the lease
            await asyncio.wait({work}, timeout=stop_grace_s)
            if not work.done():
                log.warning("capture of %s: recorder cancelled after the lease", broadcast_key)
                work.cancel()
            await asyncio.wait({work})
        if not work.cancelled():
            result = work.result()
    finally:
        if not work.done():  # this job itself was cancelled
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
        for task in side:
            task.cancel()
        for task in side:
            with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                await task
        await leases.close()
    if not keeper.valid():
        log.warning("capture of %s stopped: lease lost (token %d)", broadcast_key, lease.token)
        return LeasedCapture("lost", result, lease.token)
    if shipper is not None:
        with contextlib.suppress(LeaseLost):
            await asyncio.to_thread(shipper.ship)
    with contextlib.suppress(Exception):  # best effort: otherwise it simply expires
        await leases.release(keeper.lease)
    return LeasedCapture("recorded", result, lease.token)


async def _stop_when(event: asyncio.Event, stop: asyncio.Event) -> None:
    await event.wait()
    stop.set()


async def ship_loop(shipper: RawShipper, stop: asyncio.Event, every_s: float) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(shipper.ship)
        except LeaseLost:
            stop.set()
            return
        except StorageError as exc:  # the store is down: the next round ships the backlog
            log.warning("shipping raw segments failed: %s", exc)
