"""The media-playlist parse (m3u8's parser dict, no object model) gives what m3u8's model gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import m3u8
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.capture.playlist import Entry, MediaPlaylist, parse

URL = "https://cdn.example/live/abc/index.m3u8?token=1"
uris = st.sampled_from(
    ["seg{n}.ts", "/abs/seg{n}.ts", "sub/seg{n}.ts?x=1&y=%2C", "https://other.example/s{n}.ts"]
)
segment = st.tuples(uris, st.floats(0.5, 6.0), st.booleans(), st.booleans())


def _model(text: str) -> list[Entry]:
    """The entries as m3u8's object model (``m3u8.loads``) reads them: the oracle."""
    doc = m3u8.loads(text, uri=URL)
    first = int(doc.media_sequence or 0)
    return [
        Entry(
            seq=first + i,
            url=seg.absolute_uri,
            duration=float(seg.duration or 0.0),
            pdt=seg.current_program_date_time.astimezone(UTC)
            if seg.current_program_date_time
            else None,
            discontinuity=bool(seg.discontinuity),
        )
        for i, seg in enumerate(doc.segments)
    ]


@settings(max_examples=150, deadline=None)
@given(
    first=st.integers(0, 10**10),
    segments=st.lists(segment, max_size=12),
    start_pdt=st.booleans(),
    end=st.booleans(),
)
def test_entries_equal_the_m3u8_model(
    first: int, segments: list[tuple[str, float, bool, bool]], start_pdt: bool, end: bool
) -> None:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:6", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    moment = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    for i, (uri, duration, pdt, discontinuity) in enumerate(segments):
        if discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if pdt or (start_pdt and i == 0):
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{moment.isoformat(timespec='milliseconds')}")
        lines += [f"#EXTINF:{duration:.3f},", uri.format(n=first + i)]
        moment += timedelta(seconds=duration + 0.25)
    if end:
        lines.append("#EXT-X-ENDLIST")
    text = "\n".join(lines) + "\n"
    parsed = parse(text, URL)
    assert isinstance(parsed, MediaPlaylist)
    assert parsed.entries == _model(text)
    assert parsed.media_sequence == first and parsed.endlist == end
    assert parsed.target_duration == 6.0
