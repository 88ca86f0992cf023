"""Helpers for schedule tests: a valid base YAML whose line numbers the rule tests rely on."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

# Line numbers matter: tests edit these lines and expect problems on them.
BASE = """\
event:
  id: test-event
  title: {ko: 테스트 행사, en: Test event}
  timezone: Asia/Seoul
broadcasts:
  - id: day1
    url: https://www.youtube.com/watch?v=dQw4w9WgXcQ
    start: 2021-04-27T09:00
    end: 2021-04-27T18:00
sessions:
  - id: s1
    broadcast: day1
    start: 2021-04-27T10:00
    end: 2021-04-27T11:00
    title: {ko: 첫 세션, en: First session}
  - id: s2
    broadcast: day1
    start: 2021-04-27T11:00
    end: 2021-04-27T12:00
    title: Second session
"""

_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<message>.*)$")


def split(problem: str) -> tuple[str, int, str]:
    """``file:line: message`` → (file, line, message); fails the test on any other shape."""
    match = _LINE.match(problem)
    assert match, f"not file:line: message: {problem!r}"
    return match["file"], int(match["line"]), match["message"]


def edit(text: str, line: int, new: str) -> str:
    """Replace 1-based ``line`` of text with ``new`` (which may hold several lines)."""
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    def _write(text: str, name: str = "event.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
