"""Resolving broadcasts with yt-dlp: a URL → what it is now (live status, start, manifest).

``info``: what a URL is; ``classify``: yt-dlp's errors as ours; ``resolver``: yt-dlp's API;
``budget``: how often to re-resolve; ``runtime``: yt-dlp's version and JS runtime check.
"""

from streamer.youtube.budget import ResolveBudget, resolve_backoff
from streamer.youtube.classify import translate_error
from streamer.youtube.info import BroadcastInfo, choose_format, expires_from_url, info_from_ytdlp
from streamer.youtube.resolver import Resolver, ResolverLike, ResolverOptions, resolve_async
from streamer.youtube.runtime import ytdlp_environment

__all__ = [
    "BroadcastInfo",
    "ResolveBudget",
    "Resolver",
    "ResolverLike",
    "ResolverOptions",
    "choose_format",
    "expires_from_url",
    "info_from_ytdlp",
    "resolve_async",
    "resolve_backoff",
    "translate_error",
    "ytdlp_environment",
]
