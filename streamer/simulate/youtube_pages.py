"""What a loopback YouTube writes: the videos' player responses (``/youtubei/v1/player``),
watch and channel pages with their ``ytcfg`` and ``ytInitialData``, as yt-dlp's real
``YoutubeIE`` and ``YoutubeTabIE`` parse them (:mod:`streamer.simulate.youtube_site` serves
them). A video's state is its :class:`Screen`; error screens use YouTube's own wording."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

CHANNEL_ID = "UCsimulatedchannel000000"
HANDLE = "@sim"
PLAYER_ID = "0a1b2c3d"


class Screen(StrEnum):
    """What a video shows to a viewer right now."""

    UPCOMING = "upcoming"
    LIVE = "live"
    POST_LIVE = "post_live"  # just ended; the DVR is still being processed
    WAS_LIVE = "was_live"
    NOT_LIVE = "not_live"  # a plain upload (or a premiere that finished)
    PRIVATE = "private"
    MEMBERS_ONLY = "members_only"
    AGE_RESTRICTED = "age_restricted"
    GEO_BLOCKED = "geo_blocked"
    REMOVED = "removed"
    BOT_CHECK = "bot_check"
    RATE_LIMITED = "rate_limited"


# (playability status, reason, subreason) of each error screen, as YouTube words them.
ERROR_SCREENS: dict[Screen, tuple[str, str, str]] = {
    Screen.PRIVATE: (
        "LOGIN_REQUIRED",
        "Private video",
        "Sign in if you've been granted access to this video",
    ),
    Screen.MEMBERS_ONLY: (
        "UNPLAYABLE",
        "Join this channel to get access to members-only content like this video, and other "
        "exclusive perks.",
        "",
    ),
    Screen.AGE_RESTRICTED: (
        "LOGIN_REQUIRED",
        "Sign in to confirm your age",
        "This video may be inappropriate for some users.",
    ),
    Screen.GEO_BLOCKED: (
        "UNPLAYABLE",
        "Video unavailable",
        "The uploader has not made this video available in your country",
    ),
    Screen.REMOVED: ("ERROR", "This video has been removed by the uploader", ""),
    Screen.BOT_CHECK: (
        "LOGIN_REQUIRED",
        "Sign in to confirm you’re not a bot",
        "This helps protect our community. Learn more",
    ),
    Screen.RATE_LIMITED: ("UNPLAYABLE", "This content isn't available, try again later.", ""),
}


@dataclass(frozen=True)
class AdaptiveFormat:
    """One ``adaptiveFormats`` entry (a DASH-style URL; the live fragment path)."""

    itag: int
    url: str
    mime: str = 'video/mp4; codecs="avc1.4d401f"'
    width: int | None = 1280
    height: int | None = 720
    bitrate: int = 2_500_000
    fps: int = 30
    # fragment duration while live and post_live (``targetDurationSec``: yt-dlp marks such
    # formats ``is_from_start`` with ``live_from_start``, and ``url&sq=N`` is fragment N)
    target_s: float = 2.0
    audio_rate: int | None = None  # ``audioSampleRate`` of an audio-only format


@dataclass
class Video:
    """One video of the simulated channel; change its fields (or script them) freely."""

    video_id: str
    screen: Screen
    title: str = "Simulated broadcast"
    scheduled_start: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    hls_manifest_url: str | None = None
    adaptive: list[AdaptiveFormat] = field(default_factory=list)
    # called before each answer about this video: a media server behind it refreshes its
    # screen and URLs (they expire, the broadcast ends), as googlevideo's do
    sync: Callable[[Video], None] | None = None


def _offline_slate(video: Video) -> dict[str, Any]:
    """The playability status of an upcoming live stream, with its scheduled start."""
    slate: dict[str, Any] = {"mainText": {"runs": [{"text": "Live in a moment"}]}}
    if video.scheduled_start is not None:
        slate["scheduledStartTime"] = str(int(video.scheduled_start.timestamp()))
    return {
        "status": "LIVE_STREAM_OFFLINE",
        "reason": "This live event will begin in a few moments.",
        "playableInEmbed": True,
        "liveStreamability": {
            "liveStreamabilityRenderer": {
                "videoId": video.video_id,
                "offlineSlate": {"liveStreamOfflineSlateRenderer": slate},
            }
        },
    }


def _adaptive_entry(f: AdaptiveFormat, live: bool) -> dict[str, Any]:
    """One ``streamingData.adaptiveFormats`` entry; ``live``: fragment-addressable."""
    entry: dict[str, Any] = {
        "itag": f.itag,
        "url": f.url,
        "mimeType": f.mime,
        "bitrate": f.bitrate,
    }
    if f.height is not None:
        entry.update(
            width=f.width,
            height=f.height,
            quality="hd720" if f.height >= 720 else "medium",
            qualityLabel=f"{f.height}p",
            fps=f.fps,
        )
    else:
        entry.update(
            quality="tiny",
            audioQuality="AUDIO_QUALITY_MEDIUM",
            audioSampleRate=str(f.audio_rate or 48000),
            audioChannels=2,
        )
    if live:
        entry["targetDurationSec"] = f.target_s
    return entry


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _text(value: str) -> dict[str, Any]:
    return {"simpleText": value}


def player_response(video: Video | None, video_id: str) -> dict[str, Any]:
    """The ``/youtubei/v1/player`` answer for ``video`` as it is now (None: no such video)."""
    if video is None:
        return {
            "playabilityStatus": {
                "status": "ERROR",
                "reason": "This video is unavailable",
                "errorScreen": {
                    "playerErrorMessageRenderer": {"reason": _text("This video is unavailable")}
                },
            },
            "videoDetails": {"videoId": video_id},
        }
    if video.screen in ERROR_SCREENS:
        return _error_response(video)
    screen = video.screen
    details: dict[str, Any] = {
        "videoId": video.video_id,
        "title": video.title,
        "lengthSeconds": "0",
        "channelId": CHANNEL_ID,
        "author": "Simulated channel",
        "shortDescription": "",
        "isLiveContent": screen != Screen.NOT_LIVE,
        "isLive": screen == Screen.LIVE,
    }
    if screen == Screen.UPCOMING:
        details["isUpcoming"] = True
    if screen == Screen.POST_LIVE:
        details["isPostLiveDvr"] = True
    if screen == Screen.NOT_LIVE:
        details["lengthSeconds"] = "600"
    broadcast: dict[str, Any] = {"isLiveNow": screen == Screen.LIVE}
    start = video.started_at or video.scheduled_start
    if start is not None:
        broadcast["startTimestamp"] = _iso(start)
    if video.ended_at is not None and screen in (Screen.POST_LIVE, Screen.WAS_LIVE):
        broadcast["endTimestamp"] = _iso(video.ended_at)
    micro: dict[str, Any] = {
        "title": _text(video.title),
        "externalChannelId": CHANNEL_ID,
        "ownerProfileUrl": f"http://www.youtube.com/{HANDLE}",
        "category": "Education",
        "isFamilySafe": True,
    }
    if screen != Screen.NOT_LIVE:
        micro["liveBroadcastDetails"] = broadcast
    response: dict[str, Any] = {
        "playabilityStatus": {"status": "OK", "playableInEmbed": True},
        "videoDetails": details,
        "microformat": {"playerMicroformatRenderer": micro},
    }
    if screen == Screen.UPCOMING:
        response["playabilityStatus"] = _offline_slate(video)
        return response
    streaming: dict[str, Any] = {"expiresInSeconds": "21540"}
    if video.hls_manifest_url and screen == Screen.LIVE:
        streaming["hlsManifestUrl"] = video.hls_manifest_url
    streaming["adaptiveFormats"] = [
        _adaptive_entry(f, screen in (Screen.LIVE, Screen.POST_LIVE)) for f in video.adaptive
    ]
    response["streamingData"] = streaming
    return response


def _error_response(video: Video) -> dict[str, Any]:
    status, reason, subreason = ERROR_SCREENS[video.screen]
    renderer: dict[str, Any] = {"reason": _text(reason)}
    if subreason:
        renderer["subreason"] = _text(subreason)
    return {
        "playabilityStatus": {
            "status": status,
            "reason": reason,
            "errorScreen": {"playerErrorMessageRenderer": renderer},
        },
        "videoDetails": {"videoId": video.video_id, "title": video.title},
    }


def ytcfg() -> dict[str, Any]:
    """The page's ``ytcfg``: an innertube client, and ``STS`` so no player JS is needed."""
    return {
        "INNERTUBE_API_KEY": "AIzaSimulated",
        "INNERTUBE_CLIENT_NAME": "WEB",
        "INNERTUBE_CLIENT_VERSION": "2.20260708.00.00",
        "INNERTUBE_CONTEXT": {
            "client": {"clientName": "WEB", "clientVersion": "2.20260708.00.00", "hl": "en"}
        },
        "INNERTUBE_CONTEXT_CLIENT_NAME": 1,
        "VISITOR_DATA": "CgtTaW11bGF0ZWQ%3D",
        "STS": 20400,
        "PLAYER_JS_URL": f"/s/player/{PLAYER_ID}/player_ias.vflset/en_US/base.js",
    }


def watch_html(player: dict[str, Any], video_id: str) -> str:
    """A watch page carrying ``player`` (the video's player response)."""
    data = initial_data(video_id)
    return (
        "<!DOCTYPE html><html><head><title>YouTube</title></head><body>"
        f"<script>ytcfg.set({json.dumps(ytcfg())});</script>"
        f"<script>var ytInitialPlayerResponse = {json.dumps(player)};</script>"
        f"<script>var ytInitialData = {json.dumps(data)};</script>"
        "</body></html>"
    )


def channel_html() -> str:
    """The channel page /live shows when nothing is live: no video, a Home tab."""
    tab = {
        "tabRenderer": {
            "title": "Home",
            "selected": True,
            "endpoint": {
                "commandMetadata": {"webCommandMetadata": {"url": f"/{HANDLE}/featured"}},
                "browseEndpoint": {"browseId": CHANNEL_ID},
            },
            "content": {"sectionListRenderer": {"contents": []}},
        }
    }
    data = {
        "contents": {"twoColumnBrowseResultsRenderer": {"tabs": [tab]}},
        "metadata": {
            "channelMetadataRenderer": {
                "title": "Simulated channel",
                "externalId": CHANNEL_ID,
                "vanityChannelUrl": f"http://www.youtube.com/{HANDLE}",
            }
        },
    }
    return (
        "<!DOCTYPE html><html><body>"
        f"<script>ytcfg.set({json.dumps(ytcfg())});</script>"
        f"<script>var ytInitialData = {json.dumps(data)};</script></body></html>"
    )


def initial_data(video_id: str) -> dict[str, Any]:
    return {
        "contents": {"twoColumnWatchNextResults": {"results": {"results": {"contents": []}}}},
        "currentVideoEndpoint": {"watchEndpoint": {"videoId": video_id}},
    }
