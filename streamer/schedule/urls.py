"""Broadcast URLs: which ones a schedule accepts, and their normal form."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9_-]{11}$")
YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
SHORT_HOSTS = {"youtu.be", "www.youtu.be"}
# channel live pages: /@handle/live, /channel/UC.../live, /c/name/live, /user/name/live
_CHANNEL_LIVE_RE = re.compile(
    r"^/(@[\w.\-·]{1,100}|channel/UC[A-Za-z0-9_-]{22}|c/[^/]+|user/[^/]+)/live/?$"
)
_VIDEO_PATH_RE = re.compile(r"^/(live|embed|shorts|v)/([A-Za-z0-9_-]{11})/?$")

WATCH = "https://www.youtube.com/watch?v="


def normalise_url(raw: str) -> str:
    """The URL to store for a broadcast, or ValueError saying why it is not accepted.

    Accepted: a YouTube watch URL, youtu.be/ID, a bare 11-character video id (made into a
    watch URL), a channel's ``/live`` URL (``/@handle/live``, ``/channel/UC…/live``), a
    ``/live/ID`` URL, and any other http(s) URL (an HLS ``.m3u8`` for instance).
    """
    text = raw.strip()
    if VIDEO_ID_RE.fullmatch(text):
        return WATCH + text
    if any(c.isspace() for c in text):
        raise ValueError(f"{text!r} contains spaces")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        if not parts.scheme:
            raise ValueError(
                f"{text!r} is neither an http(s) URL nor an 11-character YouTube video id"
            )
        raise ValueError(f"{text!r}: only http and https URLs are accepted, not {parts.scheme}:")
    host = (parts.hostname or "").lower()
    if not host or ("." not in host and ":" not in host and host != "localhost"):
        raise ValueError(f"{text!r} has no valid host")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    if host in YOUTUBE_HOSTS:
        _check_youtube(text, parts.path, parts.query)
    elif host in SHORT_HOSTS and not VIDEO_ID_RE.fullmatch(parts.path.strip("/")):
        raise ValueError(f"{text!r}: a youtu.be URL needs an 11-character video id")
    return text


def _check_youtube(text: str, path: str, query: str) -> None:
    if path.rstrip("/") == "/watch":
        ids = parse_qs(query).get("v", [])
        if not ids or not VIDEO_ID_RE.fullmatch(ids[0]):
            raise ValueError(f"{text!r}: a watch URL needs v=<11-character video id>")
        return
    if _CHANNEL_LIVE_RE.match(path) or _VIDEO_PATH_RE.match(path):
        return
    raise ValueError(
        f"{text!r} is not a YouTube video or live URL (expected /watch?v=ID,"
        " /@handle/live, /channel/UC…/live or /live/ID)"
    )


def video_id(url: str) -> str | None:
    """The video id in a YouTube URL, or None (channel /live URLs, HLS URLs)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in SHORT_HOSTS:
        vid = parts.path.strip("/")
        return vid if VIDEO_ID_RE.fullmatch(vid) else None
    if host in YOUTUBE_HOSTS:
        if parts.path.rstrip("/") == "/watch":
            ids = parse_qs(parts.query).get("v", [])
            return ids[0] if ids and VIDEO_ID_RE.fullmatch(ids[0]) else None
        match = _VIDEO_PATH_RE.match(parts.path)
        return match.group(2) if match else None
    return None


def public_url(url: str | None) -> str | None:
    """What a public record may show of a broadcast URL: the canonical watch URL of a YouTube
    video, a YouTube channel's ``/live`` page without query, or nothing (other URLs may carry
    credentials or signed tokens)."""
    if not url:
        return None
    vid = video_id(url)
    if vid is not None:
        return WATCH + vid
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in YOUTUBE_HOSTS and parts.username is None and _CHANNEL_LIVE_RE.match(parts.path):
        return f"https://www.youtube.com{parts.path}"
    return None
