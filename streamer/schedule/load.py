"""Schedule YAML files → Program, with every problem reported as ``file:line: message``.

The YAML is read with the line of every key (``yamlread``), then checked against the model
(``check``). All problems of a file are collected in one pass and sorted by line; errors make
the file invalid, warnings do not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from streamer.errors import ScheduleError
from streamer.schedule.check import Checker, key_line
from streamer.schedule.model import Program
from streamer.schedule.problems import Problem, Report
from streamer.schedule.values import UNDETERMINED, parse_when, suggest
from streamer.schedule.yamlread import YamlSyntaxError, load_yaml

__all__ = [
    "UNDETERMINED",
    "Problem",
    "Report",
    "check_data",
    "check_paths",
    "check_program",
    "check_text",
    "load_dir",
    "load_program",
    "parse_when",
    "program_from_data",
    "suggest",
]

log = logging.getLogger(__name__)


def check_program(path: Path) -> tuple[Program | None, list[str], list[str]]:
    """Check one file: (program or None when invalid, errors, warnings), ``file:line: message``."""
    report = Report()
    program = _check_file(path, report)
    return program, report.errors, report.warnings


def load_program(path: Path) -> Program:
    """Load one schedule file; ScheduleError with every problem when invalid."""
    report = Report()
    program = _check_file(path, report)
    for warning in report.folded(errors=False):
        log.warning("%s", warning)
    if program is None:
        errors = report.errors
        raise ScheduleError(f"{path}: invalid schedule ({len(errors)} problems)", errors)
    return program


def check_paths(paths: Iterable[Path]) -> Report:
    """Check files and directories (their ``*.yaml``/``*.yml``), and that event ids are unique."""
    report = Report()
    seen: dict[str, str] = {}
    for path in paths:
        for file in _schedule_files(path, report):
            program = _check_file(file, report)
            if program is None:
                continue
            first = seen.get(program.event.id)
            if first is not None:
                report.problems.append(
                    Problem(
                        str(file),
                        _event_id_line(file),
                        f"event id {program.event.id!r} is already used by {first}",
                    )
                )
                continue
            seen[program.event.id] = str(file)
            report.programs.append(program)
    return report


def load_dir(path: Path) -> list[Program]:
    """Every schedule in a directory (or the one file given); ScheduleError lists all problems."""
    report = check_paths([path])
    for warning in report.folded(errors=False):
        log.warning("%s", warning)
    if report.errors:
        raise ScheduleError(
            f"{path}: invalid schedules ({len(report.errors)} problems)", report.errors
        )
    return report.programs


def program_from_data(data: Mapping[str, Any], source: str = "<data>") -> Program:
    """Validate plain data (as YAML would load it) into a Program; ScheduleError when invalid."""
    report = Report()
    program = check_data(data, source, report)
    if program is None:
        raise ScheduleError(f"{source}: invalid schedule", report.errors)
    return program


def check_data(data: Any, source: str, report: Report) -> Program | None:
    """Check plain data (LineMap/LineSeq keep the lines of a file) into ``report``."""
    return Checker(source, report).program(data)


def check_text(text: str, source: str, report: Report) -> Program | None:
    """Check schedule YAML text as the file ``source``."""
    try:
        data = load_yaml(text)
    except YamlSyntaxError as exc:
        report.problems.append(Problem(source, exc.line, exc.message))
        return None
    program = check_data(data, source, report)
    return program.model_copy(update={"source": source}) if program is not None else None


def _event_id_line(path: Path) -> int:
    """The line of ``event: id:`` (read again: only needed for a clash between files)."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8-sig"))
        return key_line(data["event"], "id")
    except (OSError, UnicodeDecodeError, YamlSyntaxError, KeyError, TypeError):
        return 0


def _schedule_files(path: Path, report: Report) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.is_file():
        return [path]
    report.problems.append(Problem(str(path), 0, "no such file or directory"))
    return []


def _check_file(path: Path, report: Report) -> Program | None:
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        report.problems.append(Problem(source, 0, f"cannot read: {exc.strerror or exc}"))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        report.problems.append(Problem(source, line, "not UTF-8 text"))
        return None
    return check_text(text, source, report)
