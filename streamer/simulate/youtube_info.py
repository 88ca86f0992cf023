"""yt-dlp's YouTube info dict for a :class:`YouTubeMedia` broadcast, and a resolver over it.

The dict has the shape yt-dlp's YouTube extractor returns from ``extract_info`` +
``process_ie_result`` (see ``_list_formats`` and ``_prepare_live_from_start_formats`` in
``yt_dlp/extractor/youtube/_video.py``):

* ``is_live`` with ``live_from_start``: HLS formats (``m3u8_native``, note "(Last 2 hours)")
  and adaptive ones marked ``is_from_start`` with ``target_duration``, ``_itag``, ``_client``,
  protocol ``http_dash_segments_generator`` (yt-dlp's ``fragments`` there is a generator
  function, left out here as it cannot cross a process boundary);
* ``post_live``: the adaptive formats as ``http_dash_segments`` with a ``fragments`` list of
  ``base&sq=N`` (``is_from_start`` removed, as yt-dlp does);
* ``was_live``: plain ``https`` adaptive formats (the archive).

:class:`SimulatedResolver` gives these dicts without running yt-dlp (fast; most heal tests and
the benchmark). :func:`site_video` puts the same broadcast on the loopback YouTube site
(``youtube_site``) instead, where yt-dlp's real extractor parses the watch page and builds the
dict itself (``tests/capture/test_heal_ytdlp.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamer.capture.fragments import with_sq
from streamer.simulate.youtube_media import AUDIO_ITAG, HLS_ITAG, VIDEO_ITAG, YouTubeMedia
from streamer.simulate.youtube_site import AdaptiveFormat, Screen, Video
from streamer.youtube import BroadcastInfo, info_from_ytdlp


def _hls_format(media: YouTubeMedia, status: str) -> dict[str, Any]:
    c = media.content
    note = f"{c.height}p" + (" (Last 2 hours)" if status in ("is_live", "post_live") else "")
    return {
        "format_id": str(HLS_ITAG),
        "format_index": None,
        "url": media.hls_url(),
        "manifest_url": media.master_url(),
        "tbr": 150.0,
        "ext": "mp4",
        "fps": float(c.fps),
        "protocol": "m3u8_native",
        "preference": -10 if status in ("is_live", "post_live") else None,
        "quality": 0,
        "has_drm": False,
        "width": c.width,
        "height": c.height,
        "vcodec": "avc1.4d400c",
        "acodec": "mp4a.40.2",
        "dynamic_range": "SDR",
        "format_note": note,
        "is_live": status == "is_live",
    }


def _adaptive(media: YouTubeMedia, itag: int, status: str) -> dict[str, Any]:
    c = media.content
    video = itag == VIDEO_ITAG
    fmt: dict[str, Any] = {
        "format_id": str(itag),
        "format_note": f"{c.height}p" if video else "medium",
        "url": media.adaptive_url(itag),
        "ext": "mp4" if video else "m4a",
        "container": "mp4_dash" if video else "m4a_dash",
        "vcodec": "avc1.4d400c" if video else "none",
        "acodec": "none" if video else "mp4a.40.2",
        "width": c.width if video else None,
        "height": c.height if video else None,
        "fps": c.fps if video else None,
        "tbr": 80.0 if video else 48.0,
        "abr": None if video else 48.0,
        "asr": None if video else 48000,
        "audio_channels": None if video else 2,
        "filesize": None,
        "has_drm": False,
        "quality": 0,
        "source_preference": -1,
        "language": None,
        "dynamic_range": "SDR" if video else None,
        "downloader_options": {"http_chunk_size": 10485760},
    }
    if status == "is_live":
        fmt.update(
            is_from_start=True,
            target_duration=media.segment_s,
            _itag=str(itag),
            _client="web",
            is_live=True,
            protocol="http_dash_segments_generator",
        )
    elif status == "post_live":
        head = media.head_sq()
        fmt.update(
            target_duration=media.segment_s,
            _itag=str(itag),
            _client="web",
            is_live=False,
            protocol="http_dash_segments",
            fragments=[
                {"url": with_sq(fmt["url"], n), "fragment_count": head} for n in range(head)
            ],
        )
    else:
        fmt["protocol"] = "https"
    return fmt


def _incomplete(media: YouTubeMedia, itag: int) -> dict[str, Any]:
    fmt = _adaptive(media, itag, "was_live")
    fmt.update(format_note=f"{fmt['format_note']} (incomplete)", preference=-21, protocol="https")
    return fmt


def ytdlp_info(media: YouTubeMedia, live_from_start: bool = False) -> dict[str, Any]:
    """The info dict yt-dlp gives for the broadcast right now.

    While live, yt-dlp keeps only the ``is_from_start`` (adaptive) formats with
    ``live_from_start`` and drops them without it (``YoutubeDL.process_video_result``); the
    adaptive formats are then plain "(incomplete)" https ones."""
    status = media.live_status
    formats: list[dict[str, Any]] = []
    if status != "was_live" and not (status == "is_live" and live_from_start):
        formats.append(_hls_format(media, status))
    if status == "is_live" and not live_from_start:
        formats += [_incomplete(media, VIDEO_ITAG), _incomplete(media, AUDIO_ITAG)]
    else:
        formats += [_adaptive(media, VIDEO_ITAG, status), _adaptive(media, AUDIO_ITAG, status)]
    duration = None
    if status != "is_live" and media.ended_at is not None:
        duration = round(media.ended_at - media.started_at)
    return {
        "id": media.video_id,
        "title": f"Simulated live {media.video_id}",
        "fulltitle": f"Simulated live {media.video_id}",
        "formats": formats,
        "thumbnails": [],
        "description": "",
        "channel_id": "UCsimulatedchannel0000000",
        "duration": duration,
        "webpage_url": f"https://www.youtube.com/watch?v={media.video_id}",
        "original_url": f"https://www.youtube.com/watch?v={media.video_id}",
        "webpage_url_basename": "watch",
        "extractor": "youtube",
        "extractor_key": "Youtube",
        "availability": "public",
        "live_status": status,
        "is_live": status == "is_live",
        "was_live": status != "is_live",
        "release_timestamp": int(media.started_at),
        "release_date": None,
        "playable_in_embed": True,
    }


def from_start_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.from-start.json")


class SimulatedResolver:
    """``resolve`` and ``extract`` over :func:`ytdlp_info` (what :class:`Resolver` gives)."""

    def __init__(self, media: YouTubeMedia, max_height: int = 1080) -> None:
        self.media = media
        self.max_height = max_height
        self.calls = 0

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        self.calls += 1
        return ytdlp_info(self.media, live_from_start)

    def resolve(self, url: str) -> BroadcastInfo:
        return info_from_ytdlp(self.extract(url), url=url, max_height=self.max_height)


class FileResolver:
    """Reads the info dict from ``yt-dlp -J`` output in a file (``--info-json``), and with
    ``live_from_start`` from ``NAME.from-start.json`` beside it (``-J --live-from-start``)
    when that exists."""

    def __init__(self, path: Path, max_height: int = 1080) -> None:
        self.path = Path(path)
        self.max_height = max_height

    def extract(self, url: str, *, live_from_start: bool = False) -> dict[str, Any]:
        path = self.path
        if live_from_start and from_start_path(path).is_file():
            path = from_start_path(path)
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return data

    def resolve(self, url: str) -> BroadcastInfo:
        return info_from_ytdlp(self.extract(url), url=url, max_height=self.max_height)


_SCREENS = {"is_live": Screen.LIVE, "post_live": Screen.POST_LIVE, "was_live": Screen.WAS_LIVE}


def site_video(media: YouTubeMedia, title: str = "Simulated broadcast") -> Video:
    """The broadcast as a video of the loopback YouTube site (``youtube_site``), for yt-dlp's
    real extractor: its player response carries ``hlsManifestUrl`` and the adaptive formats
    (``targetDurationSec`` while live and ``post_live``) of ``media``, with fresh URLs (they
    expire) and the screen of the broadcast's state at each request."""

    def sync(video: Video) -> None:
        c = media.content
        video.screen = _SCREENS[media.live_status]
        video.started_at = datetime.fromtimestamp(media.started_at, UTC)
        video.ended_at = (
            None if media.ended_at is None else datetime.fromtimestamp(media.ended_at, UTC)
        )
        video.hls_manifest_url = media.master_url()
        video.adaptive = [
            AdaptiveFormat(
                VIDEO_ITAG,
                media.adaptive_url(VIDEO_ITAG),
                mime='video/mp4; codecs="avc1.4d400c"',
                width=c.width,
                height=c.height,
                bitrate=80_000,
                fps=c.fps,
                target_s=media.segment_s,
            ),
            AdaptiveFormat(
                AUDIO_ITAG,
                media.adaptive_url(AUDIO_ITAG),
                mime='audio/mp4; codecs="mp4a.40.2"',
                width=None,
                height=None,
                bitrate=48_000,
                target_s=media.segment_s,
                audio_rate=48000,
            ),
        ]

    video = Video(media.video_id, Screen.LIVE, title=title, sync=sync)
    sync(video)
    return video
