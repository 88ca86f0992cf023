"""``streamer suggest`` end to end: the JSON contract, marks from a file, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from streamer.cli import app
from tests.detect.conftest import RADIUS_S, Rendered

KEYS = {
    "id", "scheduled_start", "scheduled_end", "suggested_start", "suggested_end",
    "confidence", "signals",
}  # fmt: skip


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def test_json_contract(slate_day: Rendered) -> None:
    code, out = run(
        "suggest", str(slate_day.directory), "--schedule", str(slate_day.schedule),
        "--session", "talk-2", "--session", "talk-3", "--radius", str(RADIUS_S), "--json",
    )  # fmt: skip
    assert code == 0, out
    body = json.loads(out)
    assert set(body) == {"sessions"}
    assert [s["id"] for s in body["sessions"]] == ["talk-2", "talk-3"]
    for s in body["sessions"]:
        assert set(s) == KEYS
        for key in ("scheduled_start", "scheduled_end", "suggested_start", "suggested_end"):
            assert datetime.fromisoformat(s[key]).utcoffset() is not None, s[key]
        assert s["scheduled_start"].endswith("+09:00")  # the event's zone
        assert 0.0 <= s["confidence"] <= 1.0
        assert s["signals"]
        for sig in s["signals"]:
            assert set(sig) == {"kind", "at", "score"}
            assert datetime.fromisoformat(sig["at"]).utcoffset() is not None
            assert 0.0 <= sig["score"] <= 1.0
        truth = slate_day.day.talk(s["id"]).true_start
        assert abs((datetime.fromisoformat(s["suggested_start"]) - truth).total_seconds()) <= 2


def test_marks_file_wins(slate_day: Rendered, tmp_path: Path) -> None:
    talk = slate_day.day.talks[0]
    marks = tmp_path / "marks.json"
    at = "2026-05-01T09:32:00+09:00"
    marks.write_text(json.dumps([{"session": talk.id, "edge": "start", "at": at, "by": "lee"}]))
    code, out = run(
        "suggest", str(slate_day.directory), "--schedule", str(slate_day.schedule),
        "--session", talk.id, "--radius", str(RADIUS_S), "--marks", str(marks), "--json",
    )  # fmt: skip
    assert code == 0, out
    s = json.loads(out)["sessions"][0]
    assert datetime.fromisoformat(s["suggested_start"]) == datetime.fromisoformat(at)
    assert any(g["kind"] == "mark" for g in s["signals"])


def test_table_for_people(slate_day: Rendered) -> None:
    code, out = run(
        "suggest", str(slate_day.directory), "--schedule", str(slate_day.schedule),
        "--session", "talk-1", "--radius", str(RADIUS_S),
    )  # fmt: skip
    assert code == 0, out
    assert "talk-1" in out and "confidence" in out


def shell(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a person runs it (errors go through main's handler)."""
    return subprocess.run(
        [sys.executable, "-m", "streamer", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_bad_input_is_a_clear_error(slate_day: Rendered, tmp_path: Path) -> None:
    base = ["suggest", str(slate_day.directory), "--schedule", str(slate_day.schedule)]
    res = shell(*base, "--session", "nope", "--json")
    assert res.returncode == 5 and "no session 'nope'" in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    bad = tmp_path / "marks.json"
    bad.write_text('[{"session": "talk-1", "edge": "middle", "at": "2026-05-01T09:32:00+09:00"}]')
    res = shell(*base, "--marks", str(bad), "--json")
    assert res.returncode == 2 and "mark 1" in res.stderr and "middle" in res.stderr
    bad.write_text('[{"session": "talk-1", "edge": "start", "at": "2026-05-01T09:32:00"}]')
    res = shell(*base, "--marks", str(bad), "--json")
    assert res.returncode == 2 and "no UTC offset" in res.stderr  # refused, not guessed
    code, _ = run(*base, "--radius", "0")
    assert code == 2
