"""Public reasons: a code and a short message, never the internal detail.

The orchestrator's reasons hold file paths, URLs and exception text; admins see them in
``/api/v1/admin/status``. The public program gets only what is below.
"""

from __future__ import annotations

import re

MESSAGES = {
    "scheduled": "starts later",
    "in_progress": "in progress",
    "processing": "being processed",
    "published": "the VOD is published",
    "capture_gap": "the recording has gaps",
    "not_recorded": "this session is not recorded",
    "source_unavailable": "the broadcast could not be reached",
    "cut_failed": "the VOD could not be cut",
    "publish_failed": "the VOD could not be published",
    "retrying": "failed; trying again",
    "stopped": "the recording was stopped",
    "failed": "processing failed",
}
# (state or None for any, pattern in the internal reason, code), first match wins
_RULES: list[tuple[str | None, re.Pattern[str], str]] = [
    (None, re.compile(r"record: false|skipped", re.I), "not_recorded"),
    (None, re.compile(r"\bmissing\b|no recording", re.I), "not_recorded"),
    (None, re.compile(r"incomplete|covers \d+%|gap", re.I), "capture_gap"),
    (
        None,
        re.compile(r"resolv|unavailable|not live|private|http \d|blocked|source", re.I),
        "source_unavailable",
    ),
    (None, re.compile(r"split|cut|ffmpeg|ffprobe|frames|thumbnail", re.I), "cut_failed"),
    (None, re.compile(r"storage|s3|upload|publish|bucket", re.I), "publish_failed"),
    (None, re.compile(r"retry in", re.I), "retrying"),
    (None, re.compile(r"stopp", re.I), "stopped"),
]
_BY_STATE = {
    "upcoming": "scheduled",
    "planned": "scheduled",
    "waiting": "scheduled",
    "live": "in_progress",
    "capturing": "in_progress",
    "recording": "in_progress",
    "ended": "processing",
    "splitting": "processing",
    "publishing": "processing",
    "published": "published",
    "incomplete": "capture_gap",
    "skipped": "not_recorded",
    "failed": "failed",
}


def public_reason(state: str | None, detail: str | None) -> tuple[str | None, str | None]:
    """(code, message) for the public side; (None, None) when there is nothing to say."""
    code: str | None = None
    if state in ("failed", "incomplete", "skipped", "missing", "ended") and detail:
        code = next((c for _, pattern, c in _RULES if pattern.search(detail)), None)
    code = code or _BY_STATE.get(str(state or ""))
    if code is None:
        return (None, None) if not detail else ("failed", MESSAGES["failed"])
    return code, MESSAGES[code]
