"""Importers on fixtures in pretalx's, frab's and a spreadsheet's real shapes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from streamer.errors import ScheduleError
from streamer.schedule.dump import dump_program
from streamer.schedule.importers import detect_format, slugify
from streamer.schedule.importers import import_schedule as _import_schedule
from streamer.schedule.load import check_program
from streamer.schedule.model import Program
from tests.schedule.conftest import FIXTURES


def import_schedule(source: Path, **options: Any) -> tuple[Program, list[str]]:
    """The importer, its warnings as the lines the CLI prints."""
    program, warnings = _import_schedule(source, **options)
    return program, [str(w) for w in warnings]


SEOUL = ZoneInfo("Asia/Seoul")
KST = timezone(timedelta(hours=9))
HALL_URL = "https://www.youtube.com/@kosc/live"


def written_and_checked(program: Program, tmp_path: Path) -> Program:
    """Dump, write and check the program like `schedule import` does; must be valid."""
    out = tmp_path / "imported.yaml"
    out.write_text(dump_program(program), encoding="utf-8")
    checked, errors, _ = check_program(out)
    assert errors == []
    assert checked is not None
    assert checked.model_dump() == program.model_dump()
    return checked


@pytest.fixture(params=["pretalx-schedule.json", "frab-schedule.xml"])
def conference(request: pytest.FixtureRequest) -> Path:
    return FIXTURES / request.param


def test_conference_import(conference: Path, tmp_path: Path) -> None:
    program, warnings = import_schedule(conference, room_urls={"Hall A": HALL_URL})
    assert program.event.id == "kosc2025"
    assert program.event.title == {"und": "Korea Open Source Conference 2025"}
    assert program.event.timezone == "Asia/Seoul"
    assert [b.id for b in program.broadcasts] == ["hall-a-d1", "room-2-d1", "hall-a-d2"]

    # the talk at 01:00 belongs to conference day 1 but happens on 12 October
    late = program.session("kosc2025-103-late-night-lightning")
    assert late.start == datetime(2025, 10, 12, 1, 0, tzinfo=KST)
    assert late.end == datetime(2025, 10, 12, 1, 45, tzinfo=KST)
    assert late.broadcast == "hall-a-d1"
    hall1 = program.broadcast("hall-a-d1")
    assert (hall1.start, hall1.end) == (
        datetime(2025, 10, 11, 10, 0, tzinfo=KST),
        datetime(2025, 10, 12, 1, 45, tzinfo=KST),
    )
    assert hall1.url == HALL_URL
    assert program.broadcast("room-2-d1").url is None
    assert any("'세미나실 2' has no broadcast url" in w for w in warnings)

    keynote = program.session("kosc2025-101-opening-keynote")
    assert keynote.title == {"ko": "기조연설: 오픈소스와 도시"}
    assert keynote.language == "ko"
    assert keynote.track == "Keynote"
    assert [s.name for s in keynote.speakers] == ["김서연 Kim Seo-yeon"]
    assert keynote.record is True

    private = program.session("kosc2025-102-private-workshop")
    assert private.record is False  # do_not_record / <optout>true</optout>
    assert [s.name for s in private.speakers] == ["Alex Doe", "박지훈"]

    # no slug: keyed by guid
    workshop = program.session("0b6f5f7e-2f7d-5d0e-8c54-7b1c2a3d4e04")
    assert workshop.broadcast == "room-2-d1"
    assert workshop.track is None

    written_and_checked(program, tmp_path)


def test_json_and_xml_agree() -> None:
    from_json, _ = import_schedule(FIXTURES / "pretalx-schedule.json")
    from_xml, _ = import_schedule(FIXTURES / "frab-schedule.xml")
    a, b = from_json.model_dump(), from_xml.model_dump()
    for session in a["sessions"]:
        session.pop("description")  # frab XML fixture leaves one abstract out
    for session in b["sessions"]:
        session.pop("description")
    assert a == b


def _json_fixture(tmp_path: Path, change: object) -> Path:
    data = json.loads((FIXTURES / "pretalx-schedule.json").read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_zone_name_disagreeing_with_offsets_warns_and_trusts_offsets(tmp_path: Path) -> None:
    def berlin(data: dict) -> None:  # type: ignore[type-arg]
        data["schedule"]["conference"]["time_zone_name"] = "Europe/Berlin"

    program, warnings = import_schedule(_json_fixture(tmp_path, berlin))
    assert any(
        "time_zone_name Europe/Berlin disagrees with the UTC offsets written in 5 talk dates" in w
        for w in warnings
    ), warnings
    late = program.session("kosc2025-103-late-night-lightning")
    assert late.start == datetime(2025, 10, 12, 1, 0, tzinfo=KST)
    assert program.event.timezone == "Europe/Berlin"
    written_and_checked(program, tmp_path)


def test_consistent_zone_gives_no_offset_warning() -> None:
    _, warnings = import_schedule(FIXTURES / "pretalx-schedule.json", room_urls={})
    assert not any("disagrees" in w for w in warnings)


def test_without_date_uses_day_and_start_with_the_0400_boundary(tmp_path: Path) -> None:
    def drop_date(data: dict) -> None:  # type: ignore[type-arg]
        for talk in data["schedule"]["conference"]["days"][0]["rooms"]["Hall A"]:
            del talk["date"]

    program, warnings = import_schedule(_json_fixture(tmp_path, drop_date))
    late = program.session("kosc2025-103-late-night-lightning")
    assert late.start == datetime(2025, 10, 12, 1, 0, tzinfo=SEOUL)  # not the 11th
    assert program.session("kosc2025-101-opening-keynote").start == datetime(
        2025, 10, 11, 10, 0, tzinfo=SEOUL
    )
    assert sum("no absolute date" in w for w in warnings) == 3


def test_date_wins_over_day_and_start(tmp_path: Path) -> None:
    def wrong_start(data: dict) -> None:  # type: ignore[type-arg]
        data["schedule"]["conference"]["days"][0]["rooms"]["Hall A"][0]["start"] = "23:00"

    program, _ = import_schedule(_json_fixture(tmp_path, wrong_start))
    keynote = program.session("kosc2025-101-opening-keynote")
    assert keynote.start == datetime(2025, 10, 11, 10, 0, tzinfo=KST)


def test_overlapping_talks_in_one_room_are_refused(tmp_path: Path) -> None:
    def overlap(data: dict) -> None:  # type: ignore[type-arg]
        talks = data["schedule"]["conference"]["days"][0]["rooms"]["Hall A"]
        talks[1]["date"] = "2025-10-11T10:20:00+09:00"

    with pytest.raises(ScheduleError) as info:
        import_schedule(_json_fixture(tmp_path, overlap))
    assert any("overlaps session 'kosc2025-101-opening-keynote'" in p for p in info.value.problems)


def test_duplicate_slugs_get_unique_ids(tmp_path: Path) -> None:
    def dup(data: dict) -> None:  # type: ignore[type-arg]
        talks = data["schedule"]["conference"]["days"][0]["rooms"]["Hall A"]
        talks[1]["slug"] = talks[0]["slug"]

    program, warnings = import_schedule(_json_fixture(tmp_path, dup))
    ids = [s.id for s in program.sessions]
    assert "kosc2025-101-opening-keynote-2" in ids
    assert len(set(ids)) == len(ids)
    assert any("is taken or invalid" in w for w in warnings)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{\n  "schedule": {\n    "conference": ,\n}', encoding="utf-8")
    with pytest.raises(ScheduleError) as info:
        import_schedule(path)
    assert info.value.problems[0].startswith(f"{path}:3: invalid JSON")


def test_json_that_is_not_a_schedule(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"talks": []}', encoding="utf-8")
    with pytest.raises(ScheduleError, match=r"no schedule\.conference"):
        import_schedule(path)


def test_xml_with_entities_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><schedule>&a;</schedule>',
        encoding="utf-8",
    )
    with pytest.raises(ScheduleError, match="DOCTYPE"):
        import_schedule(path)


def test_broken_xml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.xml"
    path.write_text("<schedule>\n<day>\n</schedule>\n", encoding="utf-8")
    with pytest.raises(ScheduleError) as info:
        import_schedule(path)
    assert info.value.problems[0].startswith(f"{path}:3: invalid XML")


def test_csv_import(tmp_path: Path) -> None:
    program, warnings = import_schedule(
        FIXTURES / "program.csv", timezone="Asia/Seoul", event_id="forum-csv"
    )
    assert program.event.id == "forum-csv"
    assert [b.id for b in program.broadcasts] == ["main-hall-d1", "studio-2-d1", "main-hall-d2"]
    assert program.broadcast("main-hall-d2").url == "https://www.youtube.com/watch?v=SJSCF2021d1"
    assert program.broadcast("studio-2-d1").url == "https://example.org/hls/studio2/index.m3u8"
    night = program.session("d1-night-talk")
    assert night.start == datetime(2021, 4, 27, 23, 30, tzinfo=SEOUL)
    assert night.end == datetime(2021, 4, 28, 0, 30, tzinfo=SEOUL)  # HH:MM end after midnight
    assert night.title == {"ko": "심야 토크", "en": "Late-night talk"}
    keynote = program.session("d1-keynote-2")
    assert [(s.name, s.affiliation) for s in keynote.speakers] == [
        ("정재승 Jeong Jae-seung", "KAIST"),
        ("홍길동 Hong Gil-dong", "세종시 Sejong City"),
    ]
    assert program.session("d1-rehearsal").record is False
    assert program.session("d2-panel").record is True
    assert warnings == []
    written_and_checked(program, tmp_path)


def test_csv_needs_a_timezone() -> None:
    with pytest.raises(ScheduleError, match="needs --timezone"):
        import_schedule(FIXTURES / "program.csv")


def test_csv_problems_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,date,start,end,title,room,record\n"
        "a,2021-04-27,10:00,10:30,A,Hall,yes\n"
        "b,2021-04-27,25:00,10:30,B,Hall,yes\n"
        "c,2021-04-27,11:00,11:30,C,Hall,perhaps\n",
        encoding="utf-8",
    )
    with pytest.raises(ScheduleError) as info:
        import_schedule(path, timezone="Asia/Seoul")
    assert [p.split(": ")[0] for p in info.value.problems] == [f"{path}:3", f"{path}:4"]
    assert "bad start" in info.value.problems[0]
    assert "'perhaps' is not true or false" in info.value.problems[1]


def test_csv_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("when,what,room\n10:00,A,Hall\n", encoding="utf-8")
    with pytest.raises(ScheduleError) as info:
        import_schedule(path, timezone="Asia/Seoul")
    assert info.value.problems == [
        f"{path}:1: missing columns: start, title (or title_ko/title_en), end (or duration)"
    ]


def test_csv_unknown_columns_are_ignored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "start,end,title,room,Notes\n2021-04-27T10:00,2021-04-27T11:00,A,Hall,call Kim\n",
        encoding="utf-8",
    )
    program, warnings = import_schedule(path, timezone="Asia/Seoul")
    assert len(program.sessions) == 1
    assert warnings[0].startswith(f"{path}:1: warning: ignored unknown columns notes")


def test_csv_with_offsets_and_duration(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "id;start;duration;title;room;language\nx;2021-04-27T01:00:00+00:00;00:45;Talk;Hall;en\n",
        encoding="utf-8",
    )
    program, _ = import_schedule(path, timezone="Asia/Seoul")
    assert program.session("x").start == datetime(2021, 4, 27, 10, 0, tzinfo=SEOUL)
    assert program.session("x").duration == timedelta(minutes=45)
    assert program.session("x").title == {"en": "Talk"}
    assert program.event.id == "s"


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("a.json", "", "pretalx-json"),
        ("a.xml", "", "frab-xml"),
        ("a.csv", "", "csv"),
        ("a.txt", '  {"schedule": {}}', "pretalx-json"),
        ("a", "<schedule/>", "frab-xml"),
        ("a", "id,start", "csv"),
    ],
)
def test_detect_format(name: str, text: str, fmt: str) -> None:
    assert detect_format(Path(name), text) == fmt


@pytest.mark.parametrize(
    ("text", "slug"),
    [("Hall A", "hall-a"), ("세미나실 2", "2"), ("Saal Zürich", "saal-zurich"), ("!!!", "")],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug
