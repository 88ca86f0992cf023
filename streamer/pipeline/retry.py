"""The retry policy of the session stages, in one place. Its verdicts are data in the store:
``attempts`` and ``next_try_at`` on the session row, so any process can act on them."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from streamer.errors import SplitError, StorageError, StreamerError


@dataclass(frozen=True)
class Verdict:
    attempts: int
    next_try_at: datetime | None  # None: final, the media team can still publish by hand
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``first_s`` doubling up to ``cap_s``, ``max_attempts`` in all
    (the defaults give about 10 minutes of retries)."""

    max_attempts: int = 8
    first_s: float = 5.0
    cap_s: float = 600.0

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cap_s, self.first_s * 2 ** min(8, max(0, attempts - 1))))

    def gave_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts

    def after_failure(
        self, attempts: int, exc: StreamerError, *, source_active: bool, at: datetime
    ) -> Verdict:
        """What a failure after ``attempts`` earlier ones means.

        A storage outage or a full disk is retried for as long as it lasts (it delays
        publishing, it must not lose it); a missing recording stays missing once its
        broadcast is over."""
        tried = attempts + 1
        if isinstance(exc, StorageError) or disk_full(exc):
            tried = min(tried, self.max_attempts - 1)
        elif isinstance(exc, SplitError) and not source_active:
            tried = self.max_attempts
        reason = str(exc)
        if self.gave_up(tried):
            return Verdict(tried, None, reason)
        delay = self.backoff(tried)
        reason = f"{reason} (attempt {attempts + 1}, retry in {delay.total_seconds():.0f}s)"
        return Verdict(tried, at + delay, reason)

    def next_try(
        self, attempts: int, next_try_at: datetime | None, updated_at: datetime
    ) -> datetime | None:
        """When a failed session is due again, or None once the policy gave up. Rows written
        before ``next_try_at`` existed fall back to their last change plus the backoff."""
        if self.gave_up(attempts):
            return None
        return next_try_at or updated_at + self.backoff(attempts)


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by a full disk (ENOSPC, or a quota: EDQUOT), in Python or
    in a tool (ffmpeg says so in the stderr its error carries)."""
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(os.strerror(code) in str(cur) for code in (errno.ENOSPC, errno.EDQUOT)):
            return True
        cur = cur.__cause__
    return False


POLICY = RetryPolicy()
