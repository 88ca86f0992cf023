"""Which broadcast URLs a schedule accepts, and their normal form."""

from __future__ import annotations

import pytest

from streamer.schedule.urls import normalise_url, video_id


@pytest.mark.parametrize(
    ("raw", "stored", "vid"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", None, "dQw4w9WgXcQ"),
        ("https://youtube.com/watch?v=dQw4w9WgXcQ&t=30s", None, "dQw4w9WgXcQ"),
        ("https://m.youtube.com/watch?feature=share&v=dQw4w9WgXcQ", None, "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ", None, "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ?si=abc", None, "dQw4w9WgXcQ"),
        ("dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("  dQw4w9WgXcQ  ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/live/dQw4w9WgXcQ", None, "dQw4w9WgXcQ"),
        ("https://www.youtube.com/@sejongcity/live", None, None),
        ("https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv/live", None, None),
        ("https://www.youtube.com/c/SejongCity/live", None, None),
        ("https://cdn.example.org/live/day1/index.m3u8", None, None),
        ("http://127.0.0.1:8080/hls/live.m3u8", None, None),
        ("http://localhost:9000/live.m3u8", None, None),
        ("http://[::1]:8080/live.m3u8", None, None),
    ],
)
def test_accepted(raw: str, stored: str | None, vid: str | None) -> None:
    out = normalise_url(raw)
    assert out == (stored or raw.strip())
    assert normalise_url(out) == out  # normal form is stable
    assert video_id(out) == vid


@pytest.mark.parametrize(
    "raw",
    [
        "rtmp://example.org/live",
        "file:///etc/passwd",
        "www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://www.youtube.com/watch",
        "https://www.youtube.com/watch?v=dQw4w9WgXc",
        "https://www.youtube.com/@sejongcity",
        "https://www.youtube.com/channel/UCshort/live",
        "https://youtu.be/abc",
        "https://",
        "http://nohost/x.m3u8",
        "http://example.org:99999/x",
        "dQw4w9WgXcQ!",
        "",
    ],
)
def test_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_url(raw)
