"""Property: a generated valid program survives model → YAML → model (and YAML is stable)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.schedule.dump import dump_program
from streamer.schedule.load import check_program
from streamer.schedule.model import Broadcast, Event, Program, Session, Speaker

ZONES = ["Asia/Seoul", "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
LANGS = ["ko", "en", "und", "zh-Hant", "de"]
URLS = [
    None,
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtu.be/dQw4w9WgXcQ",
    "https://www.youtube.com/@sejongcity/live",
    "https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv/live",
    "http://127.0.0.1:8080/live/index.m3u8",
]

ids = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,30}\Z")
# the loader strips text, so generate it stripped; no control characters
# words that a YAML reader would take for something else unless quoted
RISKY = [
    *("yes", "No", "on", "null", "~", "true", "1.5", "0x1F", "007", "1e3", ".inf", "2021-04-27"),
    *("- a", "a: b", "#tag", "'q'", '"q"', "x #y", "[a]", "{a}", "*a", "&a", "!a", "%a", "@a"),
    *("`a", "a\\b", "tab\there", "a\u0085b", "x\u2028y\u2029z", "<<"),
]
texts = (
    st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=40)
    .map(str.strip)
    .filter(bool)
) | st.sampled_from(RISKY)
titles = st.dictionaries(st.sampled_from(LANGS), texts, min_size=1, max_size=3)
speakers = st.lists(st.builds(Speaker, name=texts, affiliation=st.none() | texts), max_size=3)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@st.composite
def programs(draw: st.DrawFn) -> Program:
    zone = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(zone)
    event = Event(
        id=draw(ids),
        title=draw(titles),
        timezone=zone,
        url=draw(st.none() | st.just("https://forum.example.org/")),
        description=draw(st.none() | titles),
    )
    broadcasts: list[Broadcast] = []
    sessions: list[Session] = []
    for b_index in range(draw(st.integers(1, 3))):
        start = draw(moments).astimezone(tz)
        cursor = start + timedelta(minutes=draw(st.integers(0, 30)))
        for _ in range(draw(st.integers(0, 4))):
            s_start = cursor + timedelta(seconds=draw(st.integers(0, 3600)))
            s_end = s_start + timedelta(seconds=draw(st.integers(1, 7200)))
            sessions.append(
                Session(
                    id=f"s{len(sessions)}-{draw(ids)}",
                    broadcast=f"b{b_index}",
                    start=s_start,
                    end=s_end,
                    title=draw(titles),
                    subtitle=draw(st.none() | texts),
                    speakers=draw(speakers),
                    track=draw(st.none() | texts),
                    language=draw(st.none() | st.sampled_from(LANGS)),
                    record=draw(st.booleans()),
                    description=draw(st.none() | texts),
                )
            )
            cursor = s_end
        end = cursor + timedelta(minutes=draw(st.integers(1, 60)))
        broadcasts.append(
            Broadcast(
                id=f"b{b_index}",
                url=draw(st.sampled_from(URLS)),
                start=start,
                end=end,
                title=draw(st.none() | titles),
                day=draw(st.none() | st.dates(min_value=date(2000, 1, 1))),
            )
        )
    return Program(event=event, broadcasts=broadcasts, sessions=sessions)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_program_survives_yaml(tmp_path_factory: object, program: Program) -> None:
    text = dump_program(program)
    path = Path(tmp_path_factory.mktemp("rt")) / "p.yaml"  # type: ignore[attr-defined]
    path.write_text(text, encoding="utf-8")
    loaded, errors, _ = check_program(path)
    assert errors == [], text
    assert loaded is not None
    assert loaded.model_dump() == program.model_dump()
    # times come back in the event's zone and the YAML is a fixed point
    for s in loaded.sessions:
        assert str(s.start.tzinfo) == program.event.timezone
    assert dump_program(loaded) == text
