"""Logging set-up: one format, secrets kept out."""

from __future__ import annotations

import logging
import re

# Query keys that look secret: ?token=, ?key=, ?sig=, api_key, X-Amz-Signature, password...
_SECRET_KEY = r"[\w.-]*(?:token|key|sig|secret|pass|pwd|auth|credential|session)[\w.-]*"  # noqa: S105
_SECRET_PATTERNS = [
    re.compile(r"(?i)(authorization:\s*bearer\s+)\S+"),
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@?#]+@"),  # user:pass@host
    re.compile(rf"(?i)((?:[?&;]|\b){_SECRET_KEY}=)[^&#\s'\"]+"),
    re.compile(r"(?i)(aws_secret_access_key\s*[=:]\s*)\S+"),
]


def redact(text: str) -> str:
    """``text`` with credentials and secret-looking query values replaced by ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***@" if "://" in pattern.pattern else r"\1***", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:  # exception text may quote the URL too
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def setup(level: str = "INFO") -> None:
    """Configure the root logger once (idempotent)."""
    root = logging.getLogger()
    if any(getattr(h, "_streamer", False) for h in root.handlers):
        root.setLevel(level.upper())
        return
    handler = logging.StreamHandler()
    handler._streamer = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "httpx", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
