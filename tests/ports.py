"""A loopback port for a server a test starts in another process.

The port is free when chosen but only bound later by the server, so something else could take
it in between. Ports from the kernel's ephemeral range (``ip_local_port_range``) are the ones
it hands out to every outgoing connection and every ``bind(0)``, which is where that race
lives; ports are picked below that range, at random, so only another explicit choice of the
same number could collide.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral() -> tuple[int, int]:
    try:
        low, high = (int(x) for x in _RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def free_port() -> int:
    low, high = _ephemeral()
    # below the ephemeral range when there is room there, else above it
    span = (10000, low) if low - 10000 >= 1000 else (high + 1, 65536)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(*span)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {span[0]}-{span[1] - 1}")
