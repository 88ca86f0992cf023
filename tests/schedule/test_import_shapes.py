"""Issue 12, wrong results 5–6 and the crashes: dict and list values, dropped data, schedule
v2, and malformed JSON shapes that must give ``file:line: message``, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streamer.cli import app
from streamer.errors import ScheduleError
from streamer.schedule.importers import detect_format, import_schedule
from tests.schedule.conftest import split
from tests.schedule.shapes import T, c3voc_json, frab_xml, line_of, write_json

DAY = "2025-06-14"


def _day(*talks: T) -> list[tuple[str, list[T]]]:
    return [(DAY, list(talks))]


def test_language_dict_title_becomes_a_multi_language_title(tmp_path: Path) -> None:
    hello = T("hello", f"{DAY}T10:00:00+02:00", title={"en": "Hello", "de": "Hallo"})
    hello.extra = {"track": {"en": "Security", "de": "Sicherheit"}, "language": "de"}
    source = write_json(tmp_path / "s.json", c3voc_json(_day(hello)))
    program, _ = import_schedule(source)
    talk = program.session("hello")
    assert talk.title == {"en": "Hello", "de": "Hallo"}
    assert talk.track == "Sicherheit"  # a language dict gives the talk's language
    out = tmp_path / "s.yaml"
    assert (
        CliRunner().invoke(app, ["schedule", "import", str(source), "-o", str(out)]).exit_code == 0
    )
    assert "{'" not in out.read_text(encoding="utf-8")  # no Python repr anywhere


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("title", ["Hello", "Hallo"], "title of talk 'x' must be text or a {language: text}"),
        ("track", ["a", "b"], "track of talk 'x' must be text or a {language: text}"),
        ("title", {"en": {"text": "Hi"}}, "title of talk 'x' must be text or a {language: text}"),
    ],
)
def test_other_structured_values_are_refused_at_the_talk(
    tmp_path: Path, field: str, value: Any, expected: str
) -> None:
    talk = T("x", f"{DAY}T10:00:00+02:00", extra={field: value})
    source = write_json(tmp_path / "s.json", c3voc_json(_day(talk)))
    with pytest.raises(ScheduleError) as info:
        import_schedule(source)
    (problem,) = info.value.problems
    file, line, message = split(problem)
    assert file == str(source)
    assert line == line_of(source, '"guid"')
    assert message.startswith(expected)


def test_subtitle_is_kept(tmp_path: Path) -> None:
    talk = T("x", f"{DAY}T10:00:00+02:00", extra={"subtitle": "and why it matters"})
    for source in (
        write_json(tmp_path / "s.json", c3voc_json(_day(talk))),
        tmp_path / "s.xml",
    ):
        if source.suffix == ".xml":
            source.write_text(frab_xml(_day(talk)), encoding="utf-8")
        program, _ = import_schedule(source)
        assert program.session("x").subtitle == "and why it matters"


@pytest.mark.parametrize(
    "person",
    ["<person>Ada Lovelace</person>", "<person><name>Ada Lovelace</name></person>"],
)
def test_persons_without_an_id_keep_their_names(tmp_path: Path, person: str) -> None:
    # a Jekyll-made frab XML writes persons without ids
    source = tmp_path / "s.xml"
    source.write_text(frab_xml(_day(T("x", f"{DAY}T10:00:00+02:00")), person=person))
    program, _ = import_schedule(source)
    assert [s.name for s in program.session("x").speakers] == ["Ada Lovelace"]


def test_schedule_v2_events_list(tmp_path: Path) -> None:
    data = c3voc_json(_day(T("x", f"{DAY}T10:00:00+02:00")))
    conference = data["schedule"]["conference"]
    talks = conference.pop("days")[0]["rooms"]["Saal 1"]
    conference["rooms"] = [{"name": "Saal 1", "guid": "room-guid-1"}]
    talks[0]["room"] = "room-guid-1"  # rooms named by guid
    late = dict(talks[0], guid="g2", slug="late", date="2025-06-15T01:00:00+02:00")
    data["schedule"]["events"] = [*talks, late]
    source = write_json(tmp_path / "hub.json", data)
    assert detect_format(source, source.read_text(encoding="utf-8")) == "schedule-v2-json"
    program, _ = import_schedule(source)
    assert [b.id for b in program.broadcasts] == ["saal-1-d1"]  # 01:00 stays on day 1
    assert program.session("late").broadcast == "saal-1-d1"


def _mutate(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = c3voc_json(_day(T("x", f"{DAY}T10:00:00+02:00"), T("y", f"{DAY}T11:00:00+02:00")))
    change(data["schedule"]["conference"])
    return data


def _days_dict(c: dict[str, Any]) -> None:
    c["days"] = {"1": c["days"][0]}


def _days_strings(c: dict[str, Any]) -> None:
    c["days"] = ["2025-06-14"]


def _rooms_list(c: dict[str, Any]) -> None:
    c["days"][0]["rooms"] = [c["days"][0]["rooms"]["Saal 1"]]


def _talks_dict(c: dict[str, Any]) -> None:
    c["days"][0]["rooms"]["Saal 1"] = {"x": c["days"][0]["rooms"]["Saal 1"][0]}


def _talk_string(c: dict[str, Any]) -> None:
    c["days"][0]["rooms"]["Saal 1"][1] = "a talk"


def _persons_dict(c: dict[str, Any]) -> None:
    c["days"][0]["rooms"]["Saal 1"][1]["persons"] = {"1": "Ada"}


def _index_text(c: dict[str, Any]) -> None:
    c["days"][0]["index"] = "first"


@pytest.mark.parametrize(
    ("change", "needle", "expected"),
    [
        (_days_dict, '"days"', "conference days must be a list of days, got a mapping"),
        (_days_strings, '"2025-06-14"', "day 1 must be an object with index, date and rooms"),
        (_rooms_list, '"rooms"', "day 1: rooms must map each room name to its talks, got a list"),
        (_talks_dict, '"Saal 1"', "day 1, room 'Saal 1': talks must be a list, got a mapping"),
        (_talk_string, '"a talk"', "day 1, room 'Saal 1': a talk must be an object, got text"),
        (_persons_dict, '-000000000002"', "persons of talk 'y' must be a list, got a mapping"),
        (_index_text, '"rooms"', "day 1: index must be a day number (1, 2, ...), got text"),
    ],
)
def test_malformed_json_gives_file_line_message(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], needle: str, expected: str
) -> None:
    source = write_json(tmp_path / "s.json", _mutate(change))
    out = tmp_path / "out.yaml"
    result = CliRunner().invoke(app, ["schedule", "import", str(source), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    file, line, message = split(result.stdout.splitlines()[0])
    assert file == str(source)
    assert line == line_of(source, needle)
    assert message.startswith(expected), message
    assert not out.exists()


def test_persons_as_plain_names_are_speakers(tmp_path: Path) -> None:
    def names(c: dict[str, Any]) -> None:
        c["days"][0]["rooms"]["Saal 1"][0]["persons"] = ["Ada Lovelace", "Grace Hopper"]

    program, _ = import_schedule(write_json(tmp_path / "s.json", _mutate(names)))
    assert [s.name for s in program.session("x").speakers] == ["Ada Lovelace", "Grace Hopper"]


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    source = write_json(tmp_path / "s.json", c3voc_json(_day(T("x", f"{DAY}T10:00:00+02:00"))))
    parent = tmp_path / "a-file"
    parent.write_text("not a directory", encoding="utf-8")
    runner = CliRunner()
    for out in (parent / "out.yaml", Path("/proc/streamer-test/out.yaml")):
        result = runner.invoke(app, ["schedule", "import", str(source), "-o", str(out)])
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)
        assert f"{out}: cannot write: " in result.output
