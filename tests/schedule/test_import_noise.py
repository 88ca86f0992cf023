"""Issue 12, false refusals, risky writes and noise; issue 18 item 8 (readers by registry, the
checker read from the model) and item 5 (the id and language patterns defined once)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamer.cli import app
from streamer.errors import ScheduleError
from streamer.schedule.fields import specs
from streamer.schedule.importers import READERS, detect_format, import_schedule
from streamer.schedule.load import check_program
from streamer.schedule.model import Broadcast, Event, Session
from tests.schedule.conftest import BASE, edit, split
from tests.schedule.shapes import T, c3voc_json, frab_xml, line_of, write_json

DAY = "2025-02-01"
runner = CliRunner()


def _xml(tmp_path: Path, *talks: T, **options: str) -> Path:
    path = tmp_path / "s.xml"
    path.write_text(frab_xml([(DAY, list(talks))], **options), encoding="utf-8")  # type: ignore[arg-type]
    return path


def test_doctype_text_in_cdata_is_not_refused(tmp_path: Path) -> None:
    html = "<![CDATA[<!DOCTYPE html><p>an HTML description</p>]]>"
    source = _xml(tmp_path, T("x", f"{DAY}T10:00:00+01:00", extra={"description": html}))
    program, _ = import_schedule(source)
    assert program.session("x").description == "<!DOCTYPE html><p>an HTML description</p>"


def test_a_real_dtd_is_refused_with_its_line(tmp_path: Path) -> None:
    head = '<!DOCTYPE schedule [<!ENTITY a "aaaaaaaa">]>'
    source = _xml(tmp_path, T("x", f"{DAY}T10:00:00+01:00"), head=head)
    with pytest.raises(ScheduleError) as info:
        import_schedule(source)
    assert split(info.value.problems[0])[1] == 2
    assert "DOCTYPE" in info.value.problems[0]


def test_output_equal_to_the_source_is_refused_even_with_force(tmp_path: Path) -> None:
    source = _xml(tmp_path, T("x", f"{DAY}T10:00:00+01:00"))
    before = source.read_bytes()
    result = runner.invoke(app, ["schedule", "import", str(source), "-o", str(source), "--force"])
    assert result.exit_code == 2
    assert "is the source file" in result.output
    assert source.read_bytes() == before


def test_a_talk_with_an_empty_duration_is_skipped_or_refused_with_strict(tmp_path: Path) -> None:
    source = _xml(
        tmp_path,
        T("fine", f"{DAY}T10:00:00+01:00"),
        T("empty", f"{DAY}T11:00:00+01:00", duration=""),
    )
    program, warnings = import_schedule(source)
    assert [s.id for s in program.sessions] == ["fine"]
    (skipped,) = [str(w) for w in warnings if "skipped" in w.message]
    assert skipped.startswith(f"{source}:{line_of(source, '-000000000002')}: warning: talk 'empty'")
    with pytest.raises(ScheduleError) as info:
        import_schedule(source, strict=True)
    assert info.value.problems == [
        f"{source}:{line_of(source, '-000000000002')}: talk 'empty': no duration (--strict)"
    ]


def test_many_alike_warnings_are_printed_once_with_a_count(tmp_path: Path) -> None:
    talks = [T(f"t{i}", None, start=f"{10 + i}:00", room=f"Room {i % 2}") for i in range(8)]
    source = _xml(tmp_path, *talks)
    out = tmp_path / "out.yaml"
    result = runner.invoke(
        app, ["schedule", "import", str(source), "-o", str(out), "--timezone", "Europe/Brussels"]
    )
    assert result.exit_code == 0, result.output
    dated = [line for line in result.stdout.splitlines() if "absolute date" in line]
    assert len(dated) == 4, dated
    assert dated[-1] == (
        f"{source}: warning: and 5 more talks without an absolute date"
        " (the day's date and start were used) (8 in all)"
    )
    # one file prefix per line, never "x.xml: warning: x.xml: ..."
    assert all(line.count(str(source)) <= 1 for line in result.stdout.splitlines())


def test_check_folds_many_missing_urls(tmp_path: Path, write: object) -> None:
    lines = ["event: {id: e, title: E, timezone: UTC}", "broadcasts:"]
    for i in range(6):
        lines.append(f"  - {{id: b{i}, start: 2025-01-01T10:00, end: 2025-01-01T11:00}}")
    lines.append("sessions: []")
    path = tmp_path / "e.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["schedule", "check", "-q", str(path)])
    warned = [line for line in result.stdout.splitlines() if "url" in line]
    assert len(warned) == 4
    assert warned[-1].startswith(f"{path}: warning: and 3 more")


def test_overlap_in_an_import_names_the_source_line(tmp_path: Path) -> None:
    source = _xml(
        tmp_path,
        T("first", f"{DAY}T10:00:00+01:00", duration="01:00"),
        T("second", f"{DAY}T10:30:00+01:00"),
    )
    with pytest.raises(ScheduleError) as info:
        import_schedule(source)
    (problem,) = info.value.problems
    _, line, message = split(problem)
    assert line == line_of(source, "-000000000002")
    assert f"line {line_of(source, '-000000000001')}" in message
    assert "line 0" not in message


def test_bad_event_id_says_what_is_wrong(tmp_path: Path) -> None:
    source = _xml(tmp_path, T("x", f"{DAY}T10:00:00+01:00"))
    result = runner.invoke(
        app,
        [
            "schedule",
            "import",
            str(source),
            "-o",
            str(tmp_path / "o.yaml"),
            "--event-id",
            "Bad Id!",
        ],
    )
    assert result.exit_code == 2
    assert "--event-id 'Bad Id!' is not a valid id" in result.output
    assert "e.g. --event-id bad-id" in result.output


def test_unknown_timezone_option_suggests_one(tmp_path: Path) -> None:
    source = _xml(tmp_path, T("x", f"{DAY}T10:00:00+01:00"))
    with pytest.raises(ScheduleError) as info:
        import_schedule(source, timezone="Europe/Brusels")
    assert "did you mean 'Europe/Brussels'?" in str(info.value)


def test_language_keeps_its_bcp47_case(tmp_path: Path) -> None:
    talk = T("x", f"{DAY}T10:00:00+01:00", extra={"language": "ko-kr"})
    program, _ = import_schedule(write_json(tmp_path / "s.json", c3voc_json([(DAY, [talk])])))
    assert program.session("x").language == "ko-KR"
    assert program.session("x").title == {"ko-KR": "A talk"}


def test_day_month_year_date_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("date,start,end,title,room\n01.05.2024,10:00,11:00,A,Hall\n", encoding="utf-8")
    with pytest.raises(ScheduleError) as info:
        import_schedule(path, timezone="Europe/Berlin")
    assert info.value.problems == [
        f"{path}:2: date '01.05.2024' is day.month.year; write it as 2024-05-01"
    ]


def test_one_watch_url_for_a_room_of_several_days_warns(tmp_path: Path) -> None:
    days = [
        ("2025-02-01", [T("a", "2025-02-01T10:00:00+01:00")]),
        ("2025-02-02", [T("b", "2025-02-02T10:00:00+01:00")]),
    ]
    source = write_json(tmp_path / "s.json", c3voc_json(days))
    url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    _, warnings = import_schedule(source, room_urls={"Saal 1": url})
    assert any("is one video" in w.message and "2 days" in w.message for w in warnings)
    _, live = import_schedule(source, room_urls={"Saal 1": "https://www.youtube.com/@c/live"})
    assert not any("is one video" in w.message for w in live)


# -- issue 18: readers by registry, the checker read from the model ------------------------------


def test_formats_are_detected_by_content_not_suffix(tmp_path: Path) -> None:
    xml = frab_xml([(DAY, [T("x", f"{DAY}T10:00:00+01:00")])])
    assert detect_format(Path("export.json"), xml) == "frab-xml"
    assert (
        detect_format(Path("export"), '{"schedule": {"conference": {"days": []}}}')
        == "pretalx-json"
    )
    assert detect_format(Path("x.txt"), '{"schedule": {"events": []}}') == "schedule-v2-json"
    assert detect_format(Path("x.txt"), "start,end,title,room\n") == "csv"
    assert set(READERS) == {"pretalx-json", "schedule-v2-json", "frab-xml", "csv"}
    for reader in READERS.values():
        assert callable(reader.detect) and callable(reader.read)


def test_the_checkers_keys_are_the_models_fields() -> None:
    for model in (Event, Broadcast, Session):
        assert specs(model).known == tuple(model.model_fields)
        required = tuple(n for n, f in model.model_fields.items() if f.is_required())
        assert specs(model).required == required


def test_a_field_added_to_the_model_only_is_checked(write: object) -> None:
    # `subtitle` was added to Session alone; the checker reads it as text, with its line
    path = write(edit(BASE, 15, "    title: x\n    subtitle: [a, b]"))  # type: ignore[operator]
    _, errors, _ = check_program(path)
    assert [split(e)[1:] for e in errors] == [
        (16, "subtitle of session 's1' must be text, got a list")
    ]


def test_id_and_language_patterns_are_defined_once() -> None:
    root = Path(__file__).resolve().parents[2] / "streamer" / "schedule"
    sources = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py"))
    assert len(re.findall(re.escape("[a-z0-9_-]{0,79}"), sources)) == 1
    assert len(re.findall(re.escape("[a-z]{2,3}(-[A-Za-z0-9]{2,8})*"), sources)) == 1
