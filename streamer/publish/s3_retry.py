"""S3 operations retried as a whole, and botocore's errors turned into StorageError/NotFound.

Every operation is retried, with backoff and a bounded total time, on connection errors, 5xx
and throttling; botocore's own retries sit underneath.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from streamer.errors import NotFound, StorageError

# the S3 backend's logger, as before the backend was split into modules
log = logging.getLogger("streamer.publish.s3")
T = TypeVar("T")

_THROTTLE = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalError",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How long an operation may keep failing before StorageError (seconds)."""

    total_s: float = 300.0
    initial_s: float = 0.5
    max_wait_s: float = 20.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    botocore_attempts: int = 3
    # the budget is counted on ``clock`` and waited out with ``sleep`` (tests pass fakes)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: connection trouble, 5xx, throttling; looks through wrapped causes."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, BotoConnectionError | HTTPClientError | ConnectionError):
            return True
        if isinstance(cur, ClientError):
            err = cur.response.get("Error", {})
            status = cur.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return status >= 500 or status == 429 or err.get("Code", "") in _THROTTLE
        cur = cur.__cause__ or cur.__context__
    return False


def call(policy: RetryPolicy, what: str, key: str, fn: Callable[[], T]) -> T:
    """``fn()`` retried under ``policy``; its failure as NotFound or StorageError."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "s3 %s %s failed (attempt %d, retrying): %s",
            what,
            key,
            state.attempt_number,
            type(exc).__name__ if exc else "?",
        )

    started = policy.clock()

    def out_of_time(_: RetryCallState) -> bool:
        return policy.clock() - started >= policy.total_s

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=out_of_time,
        sleep=policy.sleep,
        wait=wait_exponential(multiplier=policy.initial_s, max=policy.max_wait_s)
        + wait_random(0, policy.initial_s),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except ClientError as exc:
        if status(exc) == 404 or exc.response.get("Error", {}).get("Code") in (
            "NoSuchKey",
            "NoSuchBucket",
        ):
            raise NotFound(f"s3 {what} {key}: {describe(exc)}") from exc
        raise StorageError(f"s3 {what} {key}: {describe(exc)}") from exc
    except (BotoCoreError, OSError, boto3.exceptions.Boto3Error) as exc:
        raise StorageError(f"s3 {what} {key}: {describe(exc)}") from exc


def status(exc: ClientError) -> int:
    """The HTTP status of a failed request (0 when there was no response)."""
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def describe(exc: BaseException) -> str:
    # botocore messages name the operation and code; never the credentials
    return f"{type(exc).__name__}: {exc}"
