"""The resolver: a broadcast URL → :class:`BroadcastInfo`, through yt-dlp's Python API.

It takes a YouTube watch URL, a video id, a channel's ``/live`` URL, or any HLS URL (yt-dlp's
generic extractor).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from streamer.config import Settings
from streamer.errors import ResolveError
from streamer.netguard import Policy, guarded_ydl, policy_for
from streamer.youtube.budget import ResolveBudget
from streamer.youtube.classify import translate_error
from streamer.youtube.info import BroadcastInfo, info_from_ytdlp

log = logging.getLogger(__name__)


class ResolverLike(Protocol):
    def resolve(self, url: str) -> BroadcastInfo: ...


class _Logger:
    """Collects yt-dlp's warnings (upcoming/private reasons arrive as warnings)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        self.warnings.append(re.sub(r"^(\[[^\]]+\]\s*)?", "", msg))

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)


@dataclass(frozen=True)
class ResolverOptions:
    """The few settings the resolver needs, read at the edge (``from_settings``)."""

    max_height: int = 1080
    cookies_file: Path | None = None
    # YouTube needs a JS runtime for its challenges; yt-dlp only enables deno by itself
    js_runtimes: tuple[str, ...] = ("deno", "node")
    socket_timeout: float = 20.0
    # which addresses yt-dlp may fetch (SSRF); None: strict unless the environment opts in
    policy: Policy | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ResolverOptions:
        return cls(
            max_height=settings.max_height,
            cookies_file=settings.cookies_file,
            js_runtimes=tuple(settings.js_runtimes),
            policy=Policy.from_settings(settings),
        )


class Resolver:
    """Resolve broadcast URLs with yt-dlp (blocking: call it from a thread in async code).

    ``ydl_class`` replaces ``yt_dlp.YoutubeDL`` (e.g. one whose network fetch goes to a
    loopback site; the extractors stay yt-dlp's own). ``budget`` limits re-resolves per host
    for every recording that shares this resolver.
    """

    def __init__(
        self,
        options: ResolverOptions | Settings | None = None,
        *,
        ydl_class: type[Any] | None = None,
        budget: ResolveBudget | None = None,
    ) -> None:
        if isinstance(options, Settings):
            options = ResolverOptions.from_settings(options)
        self.options = options or ResolverOptions()
        self.ydl_class = ydl_class
        self.budget = budget or ResolveBudget()

    @property
    def max_height(self) -> int:
        return self.options.max_height

    def _options(self, logger: _Logger) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "quiet": True,
            "no_warnings": False,
            "noprogress": True,
            "skip_download": True,
            "ignore_no_formats_error": True,  # upcoming streams have no formats yet
            "socket_timeout": self.options.socket_timeout,
            "logger": logger,
            "noplaylist": True,
            "extractor_retries": 1,
            "format": "best",
        }
        if self.options.cookies_file is not None:
            opts["cookiefile"] = str(self.options.cookies_file)
        opts["js_runtimes"] = {name: {} for name in self.options.js_runtimes}
        return opts

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        """Run yt-dlp's extractor; errors become ResolveError and its subclasses.

        ``live_from_start`` gives a live broadcast's adaptive formats addressable by fragment
        number (what a heal fetches) instead of its HLS formats."""
        import yt_dlp  # heavy import; only when resolving

        logger = _Logger()
        options = self._options(logger)
        if live_from_start:
            options["live_from_start"] = True
        if self.ydl_class is not None:  # an injected fetch (the loopback site) guards itself
            ydl_class = self.ydl_class
        else:
            policy = self.options.policy or policy_for(None)
            ydl_class = guarded_ydl(yt_dlp.YoutubeDL, policy, url)
        try:
            with ydl_class(options) as ydl:
                info = ydl.extract_info(url, download=False, process=False)
                info = ydl.process_ie_result(info, download=False) if info else info
        except yt_dlp.utils.DownloadError as exc:
            raise translate_error(url, str(exc), logger.warnings) from exc
        except (yt_dlp.utils.YoutubeDLError, OSError, ValueError) as exc:
            raise ResolveError(f"{url}: {exc}") from exc
        if not isinstance(info, dict):
            raise ResolveError(f"{url}: yt-dlp returned nothing")
        if info.get("_type") == "playlist":
            entries = [e for e in info.get("entries") or [] if isinstance(e, dict)]
            if len(entries) != 1:
                raise ResolveError(f"{url}: a playlist of {len(entries)} videos, not a broadcast")
            info = entries[0]
        info["_streamer_warnings"] = logger.warnings
        return info

    def resolve(self, url: str) -> BroadcastInfo:
        """URL → :class:`BroadcastInfo`; never reports a finished (ENDLIST) stream as live."""
        info = self.extract(url)
        result = info_from_ytdlp(info, url=url, max_height=self.options.max_height)
        log.debug("resolved %s: %s %s", url, result.live_status, result.manifest_url)
        return result


RESOLVE_TIMEOUT_S = 120.0


async def resolve_async(
    resolver: ResolverLike, url: str, timeout: float = RESOLVE_TIMEOUT_S
) -> BroadcastInfo:
    """``resolver.resolve`` in a thread, bounded: yt-dlp's JS challenge solver can hang with
    no timeout of its own. The thread is left to finish; the caller goes on."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(resolver.resolve, url), timeout)
    except TimeoutError:
        raise ResolveError(f"{url}: resolving took longer than {timeout:.0f}s") from None
