"""Issue 12, wrong results 1–4: durations across daylight saving, the zone (override, inferred,
required), and conference days rather than calendar dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from streamer.cli import app
from streamer.errors import ScheduleError
from streamer.schedule.importers import import_schedule
from streamer.schedule.load import load_program
from tests.schedule.conftest import split
from tests.schedule.shapes import T, c3voc_json, frab_xml, line_of, write_json

# (zone, the talk's start written with the offset before the change, offset after)
DST = [
    ("Europe/Berlin", "2025-03-30T01:30:00+01:00"),  # spring forward at 02:00
    ("Europe/Berlin", "2025-10-26T01:30:00+02:00"),  # fall back at 03:00
    ("America/New_York", "2025-03-09T01:30:00-05:00"),
    ("America/New_York", "2025-11-02T01:30:00-04:00"),
]


def _source(tmp_path: Path, fmt: str, zone: str, date: str) -> Path:
    days = [(date[:10], [T("two-hours", date, duration="02:00")])]
    if fmt == "json":
        return write_json(tmp_path / "schedule.json", c3voc_json(days, zone=zone))
    path = tmp_path / "schedule.xml"
    path.write_text(frab_xml(days, zone=zone), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(("zone", "date"), DST)
def test_duration_is_elapsed_time_across_daylight_saving(
    tmp_path: Path, fmt: str, zone: str, date: str
) -> None:
    program, _ = import_schedule(_source(tmp_path, fmt, zone, date))
    talk = program.session("two-hours")
    assert talk.duration == timedelta(hours=2)
    start = datetime.fromisoformat(date)
    assert talk.end.astimezone(UTC) == start.astimezone(UTC) + timedelta(hours=2)
    assert program.broadcast(talk.broadcast).end == talk.end


@pytest.mark.parametrize(("zone", "date"), DST)
def test_csv_duration_is_elapsed_time_across_daylight_saving(
    tmp_path: Path, zone: str, date: str
) -> None:
    path = tmp_path / "program.csv"
    local = datetime.fromisoformat(date).astimezone(ZoneInfo(zone))
    path.write_text(
        "id,date,start,duration,title,room\n"
        f"two-hours,{local:%Y-%m-%d},{local:%H:%M},02:00,Two hours,Hall\n",
        encoding="utf-8",
    )
    program, _ = import_schedule(path, timezone=zone)
    assert program.session("two-hours").duration == timedelta(hours=2)


def test_timezone_option_overrides_the_sources_zone(tmp_path: Path) -> None:
    # pretalx-democon's shape: the conference names UTC, the dates carry +01:00
    days = [("2025-01-25", [T("first", "2025-01-25T10:00:00+01:00")])]
    source = write_json(tmp_path / "s.json", c3voc_json(days, zone="UTC"))
    program, warnings = import_schedule(source, timezone="Europe/Berlin")
    assert program.event.timezone == "Europe/Berlin"
    assert [p.message for p in warnings if "overrides" in p.message] == [
        "--timezone Europe/Berlin overrides the source's zone UTC"
    ]
    out = tmp_path / "out.yaml"
    result = CliRunner().invoke(
        app, ["schedule", "import", str(source), "-o", str(out), "--timezone", "Europe/Berlin"]
    )
    assert result.exit_code == 0, result.output
    assert "  timezone: Europe/Berlin\n" in out.read_text(encoding="utf-8")
    assert load_program(out).session("first").start.hour == 10


def test_no_zone_name_infers_a_fixed_offset_with_one_warning(tmp_path: Path) -> None:
    # rC3's shape: no time_zone_name, every date with +01:00
    days = [("2020-12-27", [T("a", "2020-12-27T11:00:00+01:00"), T("b", "2020-12-27T12:00+01:00")])]
    source = write_json(tmp_path / "s.json", c3voc_json(days, zone=None))
    program, warnings = import_schedule(source)
    assert program.event.timezone == "Etc/GMT-1"
    assert program.session("a").start == datetime.fromisoformat("2020-12-27T11:00:00+01:00")
    zone_warnings = [p.message for p in warnings if "zone" in p.message]
    assert len(zone_warnings) == 1, zone_warnings
    assert "fixed offset +01:00" in zone_warnings[0]
    assert not any("UTC" in p.message or "disagrees" in p.message for p in warnings)
    named, _ = import_schedule(source, timezone="Europe/Berlin")
    assert named.event.timezone == "Europe/Berlin"


def test_no_zone_and_no_offsets_requires_timezone(tmp_path: Path) -> None:
    # an older pentabarf file: no <date>, only the day's date and the talk's start
    days = [("2019-02-02", [T("talk", None, start="10:30", room="Janson")])]
    source = tmp_path / "fosdem.xml"
    source.write_text(frab_xml(days, zone=None), encoding="utf-8")
    with pytest.raises(ScheduleError) as info:
        import_schedule(source)
    (problem,) = info.value.problems
    assert problem.startswith(f"{source}: ")
    assert "pass --timezone" in problem
    program, _ = import_schedule(source, timezone="Europe/Brussels")
    assert program.session("talk").start == datetime(
        2019, 2, 2, 10, 30, tzinfo=ZoneInfo("Europe/Brussels")
    )


def test_varying_offsets_without_zone_name_require_timezone(tmp_path: Path) -> None:
    days = [
        ("2025-03-29", [T("a", "2025-03-29T11:00:00+01:00")]),
        ("2025-03-30", [T("b", "2025-03-30T11:00:00+02:00")]),
    ]
    source = write_json(tmp_path / "s.json", c3voc_json(days, zone=None))
    with pytest.raises(ScheduleError) as info:
        import_schedule(source)
    (problem,) = info.value.problems
    assert "offsets +01:00, +02:00" in problem and "pass --timezone" in problem


def _31c3(tmp_path: Path) -> Path:
    """Saal 1 runs past midnight: its last talks are on the next calendar date."""
    day1 = [
        T("opening", "2014-12-27T11:00:00+01:00", "00:30"),
        T("late", "2014-12-28T00:00:00+01:00", "01:00"),
        T("latest", "2014-12-28T01:15:00+01:00", "01:00"),
    ]
    day2 = [T("morning", "2014-12-28T11:30:00+01:00", "01:00")]
    data = c3voc_json([("2014-12-27", day1), ("2014-12-28", day2)], acronym="31c3")
    return write_json(tmp_path / "31c3.json", data)


def test_check_and_show_group_by_conference_day(tmp_path: Path) -> None:
    out = tmp_path / "31c3.yaml"
    runner = CliRunner()
    result = runner.invoke(app, ["schedule", "import", str(_31c3(tmp_path)), "-o", str(out)])
    assert result.exit_code == 0, result.output
    checked = runner.invoke(app, ["schedule", "check", str(out)])
    assert checked.exit_code == 0, checked.output
    days = [line.strip() for line in checked.output.splitlines() if line.startswith("  2014-")]
    assert days == [
        "2014-12-27 Sat: 11:00–02:15 (+1), 3 sessions (3 recorded, 2.5 h), broadcasts saal-1-d1",
        "2014-12-28 Sun: 11:30–12:30, 1 sessions (1 recorded, 1.0 h), broadcasts saal-1-d2",
    ]
    program = load_program(out)
    late = program.session("latest")
    assert late.start.date().isoformat() == "2014-12-28"
    # the conference day, which the VOD record's `day` uses
    assert program.session_day(late).isoformat() == "2014-12-27"
    assert program.broadcast("saal-1-d1").day is not None
    shown = runner.invoke(app, ["schedule", "show", str(out)])
    rows = [line for line in shown.output.splitlines() if "latest" in line or "morning" in line]
    assert "12-27" not in rows[1] and "12-28" in rows[1]
    assert program.days()[0].isoformat() == "2014-12-27"


def test_conference_day_without_an_explicit_day_uses_the_0400_rule(tmp_path: Path) -> None:
    text = (
        "event: {id: e, title: E, timezone: Europe/Berlin}\n"
        "broadcasts:\n"
        "  - {id: night, url: dQw4w9WgXcQ, start: 2014-12-28T00:30, end: 2014-12-28T03:00}\n"
        "  - {id: day2, url: dQw4w9WgXcQ, start: 2014-12-28T10:00, end: 2014-12-28T12:00}\n"
        "sessions:\n"
        "  - {id: a, broadcast: night, start: 2014-12-28T01:00, end: 2014-12-28T02:00, title: A}\n"
        "  - {id: b, broadcast: day2, start: 2014-12-28T10:00, end: 2014-12-28T11:00, title: B}\n"
    )
    path = tmp_path / "e.yaml"
    path.write_text(text, encoding="utf-8")
    program = load_program(path)
    assert [program.session_day(s).isoformat() for s in program.sessions] == [
        "2014-12-27",
        "2014-12-28",
    ]


def test_import_errors_name_file_and_line(tmp_path: Path) -> None:
    source = _31c3(tmp_path)
    text = source.read_text(encoding="utf-8").replace('"2014-12-28T01:15:00+01:00"', '"soon"')
    source.write_text(text, encoding="utf-8")
    with pytest.raises(ScheduleError) as info:
        import_schedule(source)
    file, line, message = split(info.value.problems[0])
    assert (file, line) == (str(source), line_of(source, "-000000000003"))
    assert "talk 'latest': bad date" in message
