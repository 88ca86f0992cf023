"""The ``Range`` header (RFC 9110 §14): parsed here, so every answer has one shape.

- no header, another unit (``items=0-1``) or too many ranges: ignored, the whole body (200);
- a ``bytes`` range that is malformed or that no byte satisfies: 416, the JSON error, and
  ``Content-Range: bytes */<size>``;
- otherwise the satisfiable ranges, clipped to the size.
"""

from __future__ import annotations

import re

MAX_RANGES = 16  # more is no player's need, and many small ranges only cost the server
_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(Exception):
    """416: ``message`` says why; ``size`` goes into ``Content-Range: bytes */size``."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def parse_range(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """``[(first, last)]`` (inclusive) to send, or None to send the whole body."""
    if header is None:
        return None
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None  # an unknown unit is ignored (RFC 9110 §14.2)
    parts = specs.split(",")
    if len(parts) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    for part in parts:
        if not part.strip():
            continue  # the grammar allows empty list elements
        match = _SPEC.match(part)
        if match is None or match.group(1) == match.group(2) == "":
            raise RangeNotSatisfiable(f"malformed Range {header[:100]!r}", size)
        first, last = match.group(1), match.group(2)
        if first:
            lo = int(first)
            hi = int(last) if last else size - 1
            if last and hi < lo:
                raise RangeNotSatisfiable(f"malformed Range {header[:100]!r}", size)
            if lo < size:
                ranges.append((lo, min(hi, size - 1)))
        else:
            suffix = int(last)
            if suffix > 0 and size > 0:
                ranges.append((max(0, size - suffix), size - 1))
    if not ranges:
        raise RangeNotSatisfiable(f"no byte of {header[:100]!r} is in the {size} bytes", size)
    return ranges
