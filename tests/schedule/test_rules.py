"""One test per validation rule: the message and the line of the offending key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streamer.errors import ScheduleError
from streamer.schedule.load import check_program, load_dir, load_program, program_from_data
from tests.schedule.conftest import BASE, edit, split

Write = Callable[..., Path]


def problems(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(errors, warnings) as (line, message); every one must name ``path``."""
    program, errors, warnings = check_program(path)
    assert (program is None) == bool(errors)
    out = []
    for group in (errors, warnings):
        parsed = [split(p) for p in group]
        assert all(f == str(path) for f, _, _ in parsed), group
        out.append([(line, message) for _, line, message in parsed])
    return out[0], out[1]


def only_error(path: Path) -> tuple[int, str]:
    errors, _ = problems(path)
    assert len(errors) == 1, errors
    return errors[0]


def test_base_is_valid(write: Write) -> None:
    program = load_program(write(BASE))
    seoul = ZoneInfo("Asia/Seoul")
    assert [s.id for s in program.sessions] == ["s1", "s2"]
    assert program.sessions[0].start == datetime(2021, 4, 27, 10, 0, tzinfo=seoul)
    assert program.sessions[0].start.utcoffset() is not None
    assert program.sessions[1].title == {"und": "Second session"}
    assert program.source is not None and program.source.endswith("event.yaml")


def test_yaml_syntax_error(write: Write) -> None:
    path = write(edit(BASE, 12, "    broadcast: day1: oops"))
    line, message = only_error(path)
    assert line == 12
    assert message.startswith("YAML syntax error: mapping values are not allowed")


def test_yaml_duplicate_key_is_a_syntax_error(write: Write) -> None:
    path = write(edit(BASE, 14, "    end: 2021-04-27T11:00\n    end: 2021-04-27T11:30"))
    line, message = only_error(path)
    assert line == 15
    assert "duplicate key" in message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(write: Write, text: str) -> None:
    line, message = only_error(write(text))
    assert line == 1
    assert message.startswith("empty file")


def test_top_level_not_a_mapping(write: Write) -> None:
    line, message = only_error(write("- just\n- a list\n"))
    assert line == 1
    assert "must be a mapping" in message


def test_unknown_key_suggests_closest(write: Write) -> None:
    path = write(edit(BASE, 13, "    strat: 2021-04-27T10:00"))
    errors, _ = problems(path)
    assert errors == [
        (11, "session 's1' is missing the required key 'start'"),
        (13, "unknown key 'strat' in session 's1'; did you mean 'start'?"),
    ]


def test_unknown_top_level_key_lists_known(write: Write) -> None:
    path = write(BASE + "extras: 1\n")
    line, message = only_error(path)
    assert line == 21
    assert (
        message == "unknown key 'extras' in the top level (known keys: event, broadcasts, sessions)"
    )


def test_unknown_speaker_key(write: Write) -> None:
    path = write(edit(BASE, 15, "    title: x\n    speakers:\n      - {name: A, affilation: B}"))
    line, message = only_error(path)
    assert line == 17
    assert (
        message
        == "unknown key 'affilation' in a speaker of session 's1'; did you mean 'affiliation'?"
    )


def test_missing_required_session_field(write: Write) -> None:
    lines = BASE.splitlines()
    del lines[14]  # the title of s1 (line 15)
    path = write("\n".join(lines) + "\n")
    assert only_error(path) == (11, "session 's1' is missing the required key 'title'")


def test_missing_required_event_field(write: Write) -> None:
    path = write(edit(BASE, 4, "  url: https://example.org/"))
    assert only_error(path) == (1, "event is missing the required key 'timezone'")


def test_missing_top_level_section(write: Write) -> None:
    text = "\n".join(BASE.splitlines()[:9]) + "\n"
    assert only_error(write(text)) == (1, "the top level is missing the required key 'sessions'")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-04-27 25:00", "bad start of session 's1': not a date and time: '2021-04-27 25:00'"),
        ("2021-04-27", "bad start of session 's1': '2021-04-27' is a date without a time"),
        ("tomorrow", "bad start of session 's1': not a date and time: 'tomorrow'"),
        ("1619485200", "bad start of session 's1': expected a date and time"),
    ],
)
def test_bad_datetime(write: Write, value: str, expected: str) -> None:
    path = write(edit(BASE, 13, f"    start: {value}"))
    line, message = only_error(path)
    assert line == 13
    assert message.startswith(expected), message


@pytest.mark.parametrize(
    "value",
    [
        "2021-04-27T10:00",
        "2021-04-27 10:00:00",
        "2021-04-27T01:00:00Z",
        "2021-04-27 10:00:00 +09:00",
        "'2021-04-27T10:00+09:00'",
        "2021-04-27t10:00:00+09:00",
    ],
)
def test_accepted_datetimes_mean_the_same_instant(write: Write, value: str) -> None:
    program = load_program(write(edit(BASE, 13, f"    start: {value}")))
    start = program.session("s1").start
    assert start == datetime(2021, 4, 27, 10, 0, tzinfo=ZoneInfo("Asia/Seoul"))
    assert start.tzinfo is not None and str(start.tzinfo) == "Asia/Seoul"


def test_unknown_timezone(write: Write) -> None:
    path = write(edit(BASE, 4, "  timezone: Asia/Seol"))
    line, message = only_error(path)
    assert line == 4
    assert message.startswith("unknown timezone 'Asia/Seol'")
    assert "did you mean 'Asia/Seoul'?" in message


def test_end_not_after_start(write: Write) -> None:
    path = write(edit(BASE, 14, "    end: 2021-04-27T10:00"))
    assert only_error(path) == (
        14,
        "end of session 's1' (2021-04-27 10:00) is not after its start (2021-04-27 10:00)",
    )


def test_broadcast_end_before_start(write: Write) -> None:
    path = write(edit(BASE, 9, "    end: 2021-04-27T08:00"))
    line, message = only_error(path)
    assert line == 9
    assert message.startswith("end of broadcast 'day1'")


def test_duplicate_session_id(write: Write) -> None:
    path = write(edit(BASE, 16, "  - id: s1"))
    assert only_error(path) == (16, "duplicate session id 's1' (first at line 11)")


def test_duplicate_broadcast_id(write: Write) -> None:
    extra = "\n".join(BASE.splitlines()[5:9])  # the whole day1 broadcast again
    path = write(edit(BASE, 9, BASE.splitlines()[8] + "\n" + extra))
    assert only_error(path) == (10, "duplicate broadcast id 'day1' (first at line 6)")


def test_session_names_unknown_broadcast(write: Write) -> None:
    path = write(edit(BASE, 17, "    broadcast: dayl"))
    assert only_error(path) == (
        17,
        "session 's2' names unknown broadcast 'dayl'; did you mean 'day1'?",
    )


def test_sessions_overlap_within_a_broadcast(write: Write) -> None:
    path = write(edit(BASE, 18, "    start: 2021-04-27T10:30"))
    line, message = only_error(path)
    assert line == 18
    assert message == (
        "session 's2' (2021-04-27 10:30–12:00) overlaps session 's1'"
        " (2021-04-27 10:00–11:00, line 11) in broadcast 'day1'"
    )


def test_sessions_in_different_broadcasts_may_overlap(write: Write) -> None:
    second = (
        "  - id: day1-b\n    url: https://example.org/live/b.m3u8\n"
        "    start: 2021-04-27T09:00\n    end: 2021-04-27T18:00"
    )
    text = edit(BASE, 9, BASE.splitlines()[8] + "\n" + second)
    text = text.replace(
        "    broadcast: day1\n    start: 2021-04-27T11:00",
        "    broadcast: day1-b\n    start: 2021-04-27T10:30",
    )
    program = load_program(write(text))
    assert program.session("s2").broadcast == "day1-b"


def test_session_wholly_outside_broadcast(write: Write) -> None:
    path = write(
        edit(edit(BASE, 18, "    start: 2021-04-28T11:00"), 19, "    end: 2021-04-28T12:00")
    )
    line, message = only_error(path)
    assert line == 18
    assert message == (
        "session 's2' (2021-04-28 11:00–12:00) is wholly outside the window of broadcast"
        " 'day1' (2021-04-27 09:00–18:00, line 6)"
    )


def test_session_partly_outside_broadcast_is_a_warning(write: Write) -> None:
    path = write(edit(BASE, 19, "    end: 2021-04-27T18:30"))
    errors, warnings = problems(path)
    assert errors == []
    assert warnings == [
        (
            18,
            "warning: session 's2' (2021-04-27 11:00–18:30) is partly outside the window of"
            " broadcast 'day1' (2021-04-27 09:00–18:00, line 6)",
        )
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://example.org/live.m3u8", "only http and https URLs are accepted"),
        ("not a url", "contains spaces"),
        ("javascript:alert(1)", "only http and https URLs are accepted"),
        ("https://www.youtube.com/watch?v=short", "a watch URL needs v=<11-character video id>"),
        ("https://www.youtube.com/results?search_query=x", "is not a YouTube video or live URL"),
        ("https://youtu.be/", "a youtu.be URL needs an 11-character video id"),
        ("example", "neither an http(s) URL nor an 11-character YouTube video id"),
    ],
)
def test_invalid_url(write: Write, url: str, expected: str) -> None:
    path = write(edit(BASE, 7, f"    url: {url}"))
    line, message = only_error(path)
    assert line == 7
    assert message.startswith("invalid url for broadcast 'day1': ")
    assert expected in message


def test_bare_video_id_becomes_watch_url(write: Write) -> None:
    program = load_program(write(edit(BASE, 7, "    url: dQw4w9WgXcQ")))
    assert program.broadcast("day1").url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


def test_broadcast_without_url_is_a_warning(write: Write) -> None:
    lines = BASE.splitlines()
    del lines[6]
    errors, warnings = problems(write("\n".join(lines) + "\n"))
    assert errors == []
    assert warnings == [
        (6, "warning: broadcast 'day1' has no url yet: it cannot be recorded until one is set")
    ]


def test_empty_url_is_a_warning_on_its_line(write: Write) -> None:
    errors, warnings = problems(write(edit(BASE, 7, "    url: ''")))
    assert errors == []
    assert [line for line, _ in warnings] == [7]


@pytest.mark.parametrize(
    ("line", "new", "expected"),
    [
        (11, "  - id: S 1", "invalid session id 'S 1'"),
        (6, "  - id: Day_1", "invalid broadcast id 'Day_1'"),
        (2, "  id: -event", "invalid event id '-event'"),
        (11, "  - id: [s1]", "session id must be text, got a list"),
    ],
)
def test_invalid_id(write: Write, line: int, new: str, expected: str) -> None:
    errors, _ = problems(write(edit(BASE, line, new)))
    assert errors[0][0] == line
    assert errors[0][1].startswith(expected), errors


@pytest.mark.parametrize(
    ("line", "new", "expected"),
    [
        (
            15,
            "    title: {ko: 첫 세션}\n    record: maybe",
            (16, "record of session 's1' must be true or false, got text ('maybe')"),
        ),
        (
            15,
            "    title: x\n    language: Korean",
            (16, "language of session 's1' must be a language code like ko or en, got 'Korean'"),
        ),
        (
            15,
            "    title: {Korean: x}",
            (15, "title key 'Korean' is not a language code like ko or en"),
        ),
        (15, "    title: ''", (15, "title is empty")),
        (
            15,
            "    title: x\n    speakers: Kim",
            (16, "speakers of session 's1' must be a list, got text ('Kim')"),
        ),
        (
            15,
            "    title: x\n    speakers:\n      - {affiliation: KAIST}",
            (17, "a speaker of session 's1' is missing the required key 'name'"),
        ),
    ],
)
def test_bad_values(write: Write, line: int, new: str, expected: tuple[int, str]) -> None:
    path = write(edit(BASE, line, new))
    errors, _ = problems(path)
    assert expected in errors, errors


def test_broadcasts_not_a_list(write: Write) -> None:
    lines = BASE.splitlines()
    text = "\n".join([*lines[:4], "broadcasts: {id: day1}", *lines[9:]]) + "\n"
    errors, _ = problems(write(text))
    assert errors[0] == (5, "broadcasts must be a list (lines starting with '- '), got a mapping")


def test_all_problems_reported_sorted_by_line(write: Write) -> None:
    text = edit(BASE, 18, "    start: 2021-04-27T10:30")  # overlap at 18
    text = edit(text, 7, "    url: ftp://x.org/a")  # bad url at 7
    text = edit(text, 4, "  timezone: Mars/Olympus")  # bad zone at 4
    text = edit(text, 15, "    titel: x")  # unknown key at 15, missing title at 11
    errors, _ = problems(write(text))
    assert [line for line, _ in errors] == [4, 7, 11, 15, 18]


def test_load_program_raises_with_every_problem(write: Write) -> None:
    path = write(edit(edit(BASE, 4, "  timezone: Nowhere"), 16, "  - id: s1"))
    with pytest.raises(ScheduleError) as info:
        load_program(path)
    assert [split(p)[1] for p in info.value.problems] == [4, 16]
    assert info.value.exit_code == 2


def test_load_dir_refuses_two_files_with_one_event_id(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "b.yml").write_text(BASE, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a schedule", encoding="utf-8")
    with pytest.raises(ScheduleError) as info:
        load_dir(tmp_path)
    assert info.value.problems == [
        f"{tmp_path / 'b.yml'}:2: event id 'test-event' is already used by {tmp_path / 'a.yaml'}"
    ]


def test_load_dir_reads_directory_and_single_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(BASE.replace("test-event", "other-event"), encoding="utf-8")
    assert [p.event.id for p in load_dir(tmp_path)] == ["test-event", "other-event"]
    assert [p.event.id for p in load_dir(tmp_path / "b.yaml")] == ["other-event"]
    with pytest.raises(ScheduleError) as info:
        load_dir(tmp_path / "missing")
    assert info.value.problems == [f"{tmp_path / 'missing'}: no such file or directory"]


def test_program_from_data() -> None:
    data = {
        "event": {"id": "demo", "title": "Demo", "timezone": "Asia/Seoul"},
        "broadcasts": [
            {
                "id": "b",
                "url": "https://127.0.0.1:8080/live.m3u8",
                "start": "2021-04-27T09:00",
                "end": datetime(2021, 4, 27, 1, 0, tzinfo=ZoneInfo("UTC")),
            }
        ],
        "sessions": [
            {
                "id": "s",
                "broadcast": "b",
                "start": "2021-04-27T09:10",
                "end": "2021-04-27T09:20",
                "title": {"ko": "가", "en": "A"},
                "speakers": ["Kim", {"name": "Lee", "affiliation": "KAIST"}],
                "record": False,
            }
        ],
    }
    program = program_from_data(data, source="demo")
    assert program.broadcast("b").end.astimezone(ZoneInfo("Asia/Seoul")).hour == 10
    assert program.session("s").speakers[1].affiliation == "KAIST"
    assert program.session("s").record is False
    data["sessions"][0]["start"] = "2021-04-27T08:00"  # type: ignore[index]
    data["sessions"][0]["end"] = "2021-04-27T08:30"  # type: ignore[index]
    with pytest.raises(ScheduleError) as info:
        program_from_data(data, source="demo")
    assert info.value.problems[0].startswith("demo: session 's' (2021-04-27 08:00–08:30) is wholly")


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.encode("utf-8").replace(b"First session", b"Premi\xe8re"))
    program, errors, _ = check_program(path)
    assert program is None
    assert errors == [f"{path}:15: not UTF-8 text"]


def test_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(BASE.encode("utf-8-sig"))
    assert load_program(path).event.id == "test-event"


def test_unknown_broadcast_reported_even_when_times_are_bad(write: Write) -> None:
    text = edit(edit(BASE, 12, "    broadcast: nope"), 13, "    start: 2021-04-27")
    errors, _ = problems(write(text))
    assert [line for line, _ in errors] == [12, 13]
    assert "names unknown broadcast 'nope'" in errors[0][1]


def test_id_with_a_trailing_newline_is_an_error_not_a_crash(write: Write) -> None:
    path = write(edit(BASE, 6, '  - id: "day1\\n"'))
    _program, errors, _warnings = check_program(path)
    assert any(":6: invalid broadcast id" in e for e in errors), errors


def test_times_across_a_daylight_saving_change_compare_as_instants(write: Write) -> None:
    # Europe/Berlin falls back at 03:00 CEST on 2026-10-25: 02:30+01:00 comes 40 min *after*
    # 02:50+02:00. A wall-clock comparison would accept this inverted session.
    text = """\
event: {id: dst, title: DST, timezone: Europe/Berlin}
broadcasts:
  - {id: b, url: "https://example.org/a.m3u8", start: "2026-10-25T00:00", end: "2026-10-25T06:00"}
sessions:
  - {id: s, broadcast: b, start: "2026-10-25T02:30+01:00", end: "2026-10-25T02:50+02:00", title: S}
  - {id: t, broadcast: b, start: "2026-10-25T02:10+02:00", end: "2026-10-25T02:20+01:00", title: T}
"""
    _program, errors, _ = check_program(write(text))
    assert any(":5:" in e and "end" in e for e in errors), errors
    assert not any(":6:" in e for e in errors), errors  # 70 minutes long, valid
