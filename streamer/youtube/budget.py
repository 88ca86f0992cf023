"""How often a host may be re-resolved: a shared per-host budget and a jittered backoff."""

from __future__ import annotations

import random
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable


def host_key(url: str) -> str:
    """The site a URL's resolves load: every YouTube URL counts against one budget."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "youtu.be" or host == "youtube.com" or host.endswith(".youtube.com"):
        return "youtube.com"
    return host or url


class ResolveBudget:
    """At most ``per_host`` re-resolves per ``window_s`` for each host, shared by every
    recording that uses the same resolver: too many make YouTube rate-limit the whole IP."""

    def __init__(
        self,
        per_host: int = 30,
        window_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_host = per_host
        self.window_s = window_s
        self.clock = clock
        self._spent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, url: str) -> float:
        """0 and one resolve spent, or the seconds until the host's budget has room."""
        moment = self.clock()
        with self._lock:
            spent = self._spent.setdefault(host_key(url), deque())
            while spent and moment - spent[0] >= self.window_s:
                spent.popleft()
            if len(spent) >= self.per_host:
                return self.window_s - (moment - spent[0])
            spent.append(moment)
            return 0.0


def resolve_backoff(failures: int, base_s: float = 3.0, cap_s: float = 300.0) -> float:
    """Seconds before the next re-resolve after ``failures`` that did not help: exponential,
    capped, with jitter (so many recordings do not resolve in step)."""
    if failures <= 0:
        return base_s
    return float(min(cap_s, base_s * 2 ** min(failures, 16)) * random.uniform(0.8, 1.2))
