"""Which yt-dlp messages mean "gone for good" and which are worth waiting out."""

from __future__ import annotations

import pytest

from streamer.errors import BroadcastUnavailable, ResolveError
from streamer.youtube import translate_error

URL = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


@pytest.mark.parametrize(
    "message",
    [
        "ERROR: [youtube] dQw4w9WgXcQ: Sign in to confirm you’re not a bot. Use --cookies",
        "ERROR: [youtube] dQw4w9WgXcQ: This live event will begin in 3 hours.",
        "ERROR: [youtube] dQw4w9WgXcQ: Unable to download API page: HTTP Error 503",
    ],
)
def test_passing_trouble_is_retried(message: str) -> None:
    err = translate_error(URL, message)
    # retried: a ResolveError (now with a kind: bot_check, not_live_yet, ...), never "gone"
    assert isinstance(err, ResolveError) and not isinstance(err, BroadcastUnavailable)
    assert URL in str(err)


@pytest.mark.parametrize(
    "message",
    [
        "ERROR: [youtube] dQw4w9WgXcQ: Private video. Sign in if you've been granted access",
        "ERROR: [youtube] dQw4w9WgXcQ: Sign in to confirm your age. This video may be",
        "ERROR: [youtube] dQw4w9WgXcQ: This video has been removed by the uploader",
        "ERROR: [youtube] dQw4w9WgXcQ: This video is no longer available because the YouTube"
        " account associated with this video has been terminated.",
    ],
)
def test_gone_for_good_is_unavailable(message: str) -> None:
    assert isinstance(translate_error(URL, message), BroadcastUnavailable)


def test_a_hanging_resolver_is_bounded() -> None:
    import asyncio
    import threading

    from streamer.youtube import BroadcastInfo, resolve_async

    release = threading.Event()

    class Hanging:
        def resolve(self, url: str) -> BroadcastInfo:
            release.wait(10)  # like a JS challenge process that never answers
            raise ResolveError("released")

    # asyncio.run waits for its worker threads at exit: let the hung one go a little later
    threading.Timer(0.8, release.set).start()
    with pytest.raises(ResolveError, match="longer than 0s"):
        asyncio.run(resolve_async(Hanging(), URL, timeout=0.3))
