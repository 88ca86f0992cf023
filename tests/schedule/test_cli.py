"""The `streamer schedule` commands, through typer's runner and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamer.cli import app
from streamer.schedule.load import load_program
from tests.schedule.conftest import BASE, FIXTURES, edit, split

ROOT = Path(__file__).resolve().parents[2]
FORUM = ROOT / "schedules" / "sejong-smartcity-forum-2021.yaml"
Write = Callable[..., Path]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_check_forum_prints_summary(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schedule", "check", str(FORUM)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "sejong-smartcity-forum-2021" in out
    assert "3 days (2021-04-27 – 2021-04-29, Asia/Seoul)" in out
    assert "4 broadcasts" in out
    assert "29 sessions (29 recorded, 0 not)" in out
    assert "h to record" in out
    assert "2021-04-27 Tue: 10:00–17:30, 7 sessions" in out


def test_check_defaults_to_settings_schedules(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "one.yaml").write_text(BASE, encoding="utf-8")
    monkeypatch.setenv("STREAMER_SCHEDULES", str(tmp_path))
    result = runner.invoke(app, ["schedule", "check"])
    assert result.exit_code == 0, result.output
    assert "test-event" in result.stdout


def test_check_invalid_exits_2_with_file_line(runner: CliRunner, write: Write) -> None:
    bad = write(edit(edit(BASE, 4, "  timezone: Asia/Seol"), 18, "    start: 2021-04-27T10:30"))
    result = runner.invoke(app, ["schedule", "check", str(bad)])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert [split(line)[:2] for line in lines] == [(str(bad), 4), (str(bad), 18)]
    assert "unknown timezone" in lines[0] and "overlaps" in lines[1]
    assert "2 problems" in result.stderr


def test_check_reports_across_files_sorted(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(edit(BASE, 7, "    url: ftp://x.org/a"), encoding="utf-8")
    (tmp_path / "a.yaml").write_text("event: [\n", encoding="utf-8")
    result = runner.invoke(app, ["schedule", "check", str(tmp_path)])
    assert result.exit_code == 2
    files = [split(line)[0] for line in result.stdout.splitlines()]
    assert files == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]


def test_check_warnings_exit_0(runner: CliRunner, write: Write) -> None:
    path = write(edit(BASE, 7, "    url: ''"))
    result = runner.invoke(app, ["schedule", "check", str(path)])
    assert result.exit_code == 0
    assert f"{path}:7: warning: broadcast 'day1' has no url yet" in result.stdout


def test_check_empty_directory_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["schedule", "check", str(tmp_path)])
    assert result.exit_code == 2
    assert "no schedule files" in result.stdout


def test_show_table(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schedule", "show", str(FORUM)])
    assert result.exit_code == 0, result.output
    assert "d1-keynote-schenker" in result.stdout
    assert "10:20–11:00" in result.stdout
    assert "Jason Schenker" in result.stdout
    assert "Asia/Seoul" in result.stdout


def test_show_json_has_offsets(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schedule", "show", str(FORUM), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["event"]["timezone"] == "Asia/Seoul"
    first = data["sessions"][0]
    assert first["id"] == "d1-opening"
    assert first["start"] == "2021-04-27T10:00:00+09:00"
    assert data["broadcasts"][0]["url"].startswith("https://www.youtube.com/")


def test_show_invalid_exits_2(runner: CliRunner, write: Write) -> None:
    result = runner.invoke(app, ["schedule", "show", str(write(""))])
    assert result.exit_code == 2
    assert ":1: empty file" in result.stdout


def test_import_writes_a_valid_schedule(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out" / "kosc.yaml"
    args = ["schedule", "import", str(FIXTURES / "pretalx-schedule.json"), "-o", str(out)]
    result = runner.invoke(
        app,
        [
            *args,
            "--room-url",
            "Hall A=https://www.youtube.com/@kosc/live",
            "--room-url",
            "세미나실 2=dQw4w9WgXcQ",
            "--event-id",
            "kosc-2025",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    assert "warning" not in result.stdout
    program = load_program(out)
    assert program.event.id == "kosc-2025"
    assert program.broadcast("room-2-d1").url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    check = runner.invoke(app, ["schedule", "check", str(out)])
    assert check.exit_code == 0, check.output

    # an existing file is kept unless --force
    before = out.read_text(encoding="utf-8")
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "pass --force" in again.stderr
    assert out.read_text(encoding="utf-8") == before
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0
    assert "room '세미나실 2' has no broadcast url" in forced.stdout


def test_import_csv_and_xml(runner: CliRunner, tmp_path: Path) -> None:
    csv_out, xml_out = tmp_path / "c.yaml", tmp_path / "x.yaml"
    csv = runner.invoke(
        app,
        [
            "schedule",
            "import",
            str(FIXTURES / "program.csv"),
            "-o",
            str(csv_out),
            "--timezone",
            "Asia/Seoul",
            "--event-id",
            "forum-csv",
        ],
    )
    assert csv.exit_code == 0, csv.output
    xml = runner.invoke(
        app,
        [
            "schedule",
            "import",
            str(FIXTURES / "frab-schedule.xml"),
            "-o",
            str(xml_out),
            "--format",
            "frab-xml",
        ],
    )
    assert xml.exit_code == 0, xml.output
    assert load_program(csv_out).session("d1-night-talk").record is True
    assert load_program(xml_out).session("kosc2025-102-private-workshop").record is False


def test_import_errors(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "o.yaml"
    csv = runner.invoke(app, ["schedule", "import", str(FIXTURES / "program.csv"), "-o", str(out)])
    assert csv.exit_code == 2
    assert "needs --timezone" in csv.stdout
    bad_room = runner.invoke(
        app,
        [
            "schedule",
            "import",
            str(FIXTURES / "frab-schedule.xml"),
            "-o",
            str(out),
            "--room-url",
            "Hall A",
        ],
    )
    assert bad_room.exit_code == 2
    assert "expected ROOM=URL" in bad_room.output
    bad_url = runner.invoke(
        app,
        [
            "schedule",
            "import",
            str(FIXTURES / "frab-schedule.xml"),
            "-o",
            str(out),
            "--room-url",
            "Hall A=ftp://x.org/live",
        ],
    )
    assert bad_url.exit_code == 2
    assert "room 'Hall A': invalid url" in bad_url.stdout
    assert not out.exists()


def test_help_everywhere(runner: CliRunner) -> None:
    for args in (["schedule"], ["schedule", "check"], ["schedule", "import"], ["schedule", "show"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.stdout


def _streamer() -> str:
    exe = Path(sys.executable).parent / "streamer"
    return str(exe if exe.exists() else ROOT / ".venv" / "bin" / "streamer")


def test_real_process_exit_codes(tmp_path: Path) -> None:
    env = {**os.environ, "STREAMER_SCHEDULES": str(ROOT / "schedules")}
    ok = subprocess.run(
        [_streamer(), "schedule", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "sejong-smartcity-forum-2021" in ok.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(edit(BASE, 14, "    end: 2021-04-27T09:00"), encoding="utf-8")
    fail = subprocess.run(
        [_streamer(), "schedule", "check", str(bad), str(FORUM)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fail.returncode == 2
    assert fail.stdout.startswith(f"{bad}:14: end of session 's1'")
