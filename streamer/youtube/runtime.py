"""yt-dlp's version and age and its JavaScript runtime, checked for ``status``."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from typing import Any

YTDLP_MAX_AGE_DAYS = 60


def ytdlp_environment(js_runtimes: tuple[str, ...] = ("deno", "node")) -> dict[str, Any]:
    """yt-dlp's version and age and the JavaScript runtime found, for ``status``."""
    try:
        from yt_dlp.version import __version__ as version
    except ImportError:
        return {"version": None, "warning": "yt-dlp is not installed"}
    runtime = next((name for name in js_runtimes if shutil.which(name)), None)
    env: dict[str, Any] = {"version": version, "js_runtime": runtime, "age_days": None}
    warnings = []
    if runtime is not None:
        found, minimum = _runtime_version(runtime)
        env["js_runtime_version"] = found
        if found is not None and minimum is not None:
            warnings.append(f"{runtime} {found} is older than yt-dlp supports ({minimum}+)")
    match = re.match(r"(\d{4})\.(\d{1,2})\.(\d{1,2})", version)
    if match:
        year, month, day = (int(g) for g in match.groups())
        released = datetime(year, month, day, tzinfo=UTC)
        env["age_days"] = (datetime.now(UTC) - released).days
        if env["age_days"] > YTDLP_MAX_AGE_DAYS:
            warnings.append(f"yt-dlp {version} is {env['age_days']} days old: update it")
    if runtime is None:
        warnings.append(f"no JavaScript runtime ({', '.join(js_runtimes)}) found for YouTube")
    env["warning"] = "; ".join(warnings) or None
    return env


def _runtime_version(name: str) -> tuple[str | None, str | None]:
    """The runtime's version, and yt-dlp's minimum when that version is below it (yt-dlp
    refuses such a runtime for YouTube's challenges, e.g. Node 20). yt-dlp's own check, so
    the minimum follows its release; its module is private, so a change there yields None."""
    try:
        from yt_dlp.utils import _jsruntime
    except ImportError:
        return None, None
    classes: dict[str, Any] = {
        "deno": getattr(_jsruntime, "DenoJsRuntime", None),
        "node": getattr(_jsruntime, "NodeJsRuntime", None),
        "bun": getattr(_jsruntime, "BunJsRuntime", None),
        "quickjs": getattr(_jsruntime, "QuickJsRuntime", None),
    }
    cls = classes.get(name)
    try:
        info = cls().info if cls is not None else None
    except Exception:  # a private API: never let it break status
        return None, None
    if info is None:
        return None, None
    minimum = getattr(cls, "MIN_SUPPORTED_VERSION", None)
    low = None if info.supported or minimum is None else ".".join(map(str, minimum))
    return str(info.version), low
