"""Every schedule shipped in schedules/ validates, and the forum's program has its shape."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from streamer.schedule.dump import dump_program
from streamer.schedule.load import check_program, load_dir, load_program
from streamer.schedule.model import title_text

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = sorted((ROOT / "schedules").glob("*.y*ml"))
FORUM = ROOT / "schedules" / "sejong-smartcity-forum-2021.yaml"


def test_there_are_schedules() -> None:
    assert FORUM in SCHEDULES


@pytest.mark.parametrize("path", SCHEDULES, ids=lambda p: p.name)
def test_schedule_validates_without_errors(path: Path, tmp_path: Path) -> None:
    program, errors, warnings = check_program(path)
    assert errors == []
    assert warnings == []
    assert program is not None
    # and it survives a dump and reload
    again = tmp_path / path.name
    again.write_text(dump_program(program), encoding="utf-8")
    assert load_program(again).model_dump() == program.model_dump()


def test_directory_loads_with_unique_events() -> None:
    programs = load_dir(ROOT / "schedules")
    assert len({p.event.id for p in programs}) == len(programs) == len(SCHEDULES)


def test_forum_shape() -> None:
    program = load_program(FORUM)
    assert program.event.id == "sejong-smartcity-forum-2021"
    assert program.event.timezone == "Asia/Seoul"
    assert program.days() == [date(2021, 4, 27), date(2021, 4, 28), date(2021, 4, 29)]
    assert 28 <= len(program.sessions) <= 32
    assert all({"ko", "en"} <= set(s.title) for s in program.sessions)
    assert all(s.language in ("ko", "en") for s in program.sessions)
    assert all(b.url for b in program.broadcasts)
    # the demo takes the first three sessions of day 1: opening and the two keynotes
    day1 = program.sessions_of("day1")
    assert [s.id for s in day1[:3]] == ["d1-opening", "d1-keynote-schenker", "d1-keynote-jeong"]
    names = " ".join(sp.name for s in program.sessions for sp in s.speakers)
    assert "Jason Schenker" in names and "정재승" in names
    everything = " ".join(title_text(s.title, "en") for s in program.sessions)
    for topic in (
        "New Deal",
        "Hyundai",
        "LG CNS",
        "Naver Cloud",
        "regulation-free zone",
        "Guizhou",
        "Brisbane",
        "Ankara",
        "Battambang",
        "UK",
        "China",
        "New Zealand",
        "Indonesia",
        "BSI",
    ):
        assert topic in everything, topic
    assert "illustrative" in FORUM.read_text(encoding="utf-8").lower()
