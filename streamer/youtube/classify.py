"""yt-dlp's messages → our errors: the site refusing us, the video gone, not live yet.

``ResolveError`` may be temporary (network, not live yet); ``BroadcastUnavailable`` is not.
"""

from __future__ import annotations

import re

from streamer.errors import BroadcastUnavailable, NotLiveYet, ResolveError, SiteRefused

# yt-dlp messages that mean the video will not become available by waiting.
_UNAVAILABLE = re.compile(
    r"private video|video unavailable|has been removed|account associated with this video"
    r"|this video is no longer available|video does not exist|not available anymore"
    r"|members[- ]only|join this channel|removed by the uploader|account has been terminated"
    r"|confirm your age|removed for violating|copyright claim",
    re.IGNORECASE,
)

# What yt-dlp says when the site refuses us rather than the video: (kind, pattern, hint).
_REFUSALS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "bot_check",
        re.compile(r"confirm you.?re not a bot|captcha|sign in to confirm(?! your age)", re.I),
        "YouTube asks this host to sign in (bot check): give a cookies file "
        "(STREAMER_COOKIES_FILE), make sure a JavaScript runtime is installed, update yt-dlp",
    ),
    (
        "rate_limited",
        re.compile(r"rate.?limit|try again later|HTTP Error 429|too many requests", re.I),
        "YouTube rate-limits this host (for up to an hour): fewer resolves, or cookies",
    ),
)
_EXTRACTION = re.compile(
    r"JavaScript runtime|n challenge|signature|PO Token|Requested format is not available"
    r"|player response|Unable to extract",
    re.I,
)
_EXTRACTION_HINT = (
    "yt-dlp could not read YouTube's answer: update yt-dlp and check its JavaScript runtime "
    "(deno or node)"
)
_NOT_LIVE_YET = re.compile(r"not currently live|will begin|live event will|premieres in", re.I)


def _clean(message: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", message.strip())
    # "ERROR: [extractor] video_id: message (caused by ...)" → "message"
    text = re.sub(r"^(ERROR:\s*|WARNING:\s*)?(\[[^\]]+\]\s*([\w@.-]+:\s)?)?", "", text)
    return re.sub(r"\s*\(caused by .*\)$", "", text, flags=re.DOTALL)


def classify(url: str, messages: list[str]) -> ResolveError | None:
    """The most telling of yt-dlp's messages as our error, or None when none says much.

    A bot check or rate limit often arrives as a warning, followed by a vaguer error such as
    "Requested format is not available": the refusal is the real reason and wins.
    """
    texts = [_clean(m) for m in messages if m.strip()]
    for kind, pattern, hint in _REFUSALS:
        for text in texts:
            if pattern.search(text):
                return SiteRefused(f"{url}: {text}", kind=kind, hint=hint)
    for text in texts:
        if _UNAVAILABLE.search(text):
            return BroadcastUnavailable(f"{url}: {text}", kind="unavailable")
    for text in texts:
        if _NOT_LIVE_YET.search(text):
            return NotLiveYet(f"{url}: {text}", kind="not_live_yet")
    for text in texts:
        if _EXTRACTION.search(text):
            return ResolveError(f"{url}: {text}", kind="extraction", hint=_EXTRACTION_HINT)
    return None


def translate_error(url: str, message: str, warnings: list[str] | None = None) -> ResolveError:
    """A yt-dlp error message (and the warnings before it) → our error, naming the URL."""
    text = _clean(message)
    youtube = "youtube" in message.lower() or "youtu" in url.lower()
    if youtube and re.search(r"HTTP Error (404|410)", text) is not None:
        return BroadcastUnavailable(f"{url}: {text}", kind="unavailable")
    found = classify(url, [*(warnings or []), message])
    if found is not None:
        return found
    if "Unsupported URL" in text:
        return ResolveError(f"{url}: not a broadcast or HLS stream yt-dlp can read ({text})")
    return ResolveError(f"{url}: {text}")
