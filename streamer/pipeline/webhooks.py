"""Webhooks: JSON events POSTed to configured URLs, signed, retried, never blocking the caller.

Each request carries ``X-Streamer-Event`` (the type), ``X-Streamer-Delivery`` (a unique id),
``X-Streamer-Timestamp`` (Unix seconds) and, when a secret is set,
``X-Streamer-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{delivery}." + body>``, so a
captured delivery cannot be replayed later or under another id (docs/security.md says how to
verify). Targets go through the SSRF policy (:mod:`streamer.netguard`); redirects are not
followed; secrets in the payload (URLs with credentials or tokens) are redacted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import httpx

from streamer.logs import redact
from streamer.netguard import Policy
from streamer.timeutil import iso, now

log = logging.getLogger(__name__)


def sign(secret: str, body: bytes, *, timestamp: str, delivery: str) -> str:
    """The ``X-Streamer-Signature`` value for one delivery."""
    signed = f"{timestamp}.{delivery}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    body: bytes,
    headers: dict[str, str],
    *,
    now_s: float,
    tolerance_s: float = 300.0,
) -> bool:
    """What a receiver does (the reference for docs/security.md): the signature matches and
    the timestamp is recent. Receivers also keep the delivery ids they have seen."""
    low = {k.lower(): v for k, v in headers.items()}
    timestamp = low.get("x-streamer-timestamp", "")
    delivery = low.get("x-streamer-delivery", "")
    if not timestamp.isdigit() or abs(now_s - int(timestamp)) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp=timestamp, delivery=delivery)
    return hmac.compare_digest(expected, low.get("x-streamer-signature", ""))


class Notifier:
    def __init__(
        self,
        urls: list[str],
        secret: str = "",
        *,
        attempts: int = 5,
        backoff_s: float = 1.0,
        policy: Policy | None = None,
    ) -> None:
        self.urls = urls
        self.secret = secret
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.policy = policy or Policy()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Any) -> Notifier:
        return cls(
            list(settings.webhooks),
            settings.webhook_secret.get_secret_value(),
            policy=Policy.from_settings(settings),
        )

    def emit(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue one event for every URL (call from the event loop)."""
        if not self.urls:
            return
        text = json.dumps({"type": kind, "at": iso(now()), "data": payload}, ensure_ascii=False)
        body = redact(text).encode()
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
        delay = self.backoff_s
        target = redact(url)
        async with httpx.AsyncClient(timeout=10, transport=self.policy.transport()) as client:
            for attempt in range(1, self.attempts + 1):
                # a fresh timestamp per attempt: a retry is not a replay
                timestamp = str(int(time.time()))
                headers["X-Streamer-Timestamp"] = timestamp
                if self.secret:
                    headers["X-Streamer-Signature"] = sign(
                        self.secret, body, timestamp=timestamp, delivery=delivery
                    )
                try:
                    resp = await client.post(url, content=body, headers=headers)
                    if resp.status_code < 500 and resp.status_code != 429:
                        if resp.status_code >= 400:
                            log.warning("webhook %s refused %s: %s", target, kind, resp.status_code)
                        return
                    problem = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                log.info("webhook %s attempt %d failed (%s)", target, attempt, problem)
                await asyncio.sleep(delay)
                delay *= 2
        log.warning("webhook %s gave up on %s after %d attempts", target, kind, self.attempts)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for queued deliveries (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
