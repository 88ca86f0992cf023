"""Webhooks: JSON events POSTed to configured URLs, signed, retried, never blocking the caller.

Each request carries ``X-Streamer-Event`` (the type), ``X-Streamer-Delivery`` (a unique id)
and, when a secret is set, ``X-Streamer-Signature: sha256=<hex HMAC of the body>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from typing import Any

import httpx

from streamer.timeutil import iso, now

log = logging.getLogger(__name__)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Notifier:
    def __init__(
        self, urls: list[str], secret: str = "", *, attempts: int = 5, backoff_s: float = 1.0
    ) -> None:
        self.urls = urls
        self.secret = secret
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue one event for every URL (call from the event loop)."""
        if not self.urls:
            return
        body = json.dumps(
            {"type": kind, "at": iso(now()), "data": payload}, ensure_ascii=False
        ).encode()
        delivery = uuid.uuid4().hex
        for url in self.urls:
            task = asyncio.get_running_loop().create_task(self._deliver(url, kind, delivery, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, kind: str, delivery: str, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Streamer-Event": kind,
            "X-Streamer-Delivery": delivery,
        }
        if self.secret:
            headers["X-Streamer-Signature"] = sign(self.secret, body)
        delay = self.backoff_s
        async with httpx.AsyncClient(timeout=10) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    resp = await client.post(url, content=body, headers=headers)
                    if resp.status_code < 500 and resp.status_code != 429:
                        if resp.status_code >= 400:
                            log.warning("webhook %s refused %s: %s", url, kind, resp.status_code)
                        return
                    problem = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__
                log.info("webhook %s attempt %d failed (%s)", url, attempt, problem)
                await asyncio.sleep(delay)
                delay *= 2
        log.warning("webhook %s gave up on %s after %d attempts", url, kind, self.attempts)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for queued deliveries (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
