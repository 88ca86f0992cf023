"""CLI commands: ``streamer schedule check | import | show``.

Problems and warnings go to stdout, one ``file:line: message`` line each, so they can be
piped and grepped; ``check`` exits 2 when any schedule is invalid.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from streamer.config import Settings
from streamer.errors import ScheduleError
from streamer.files import atomic_write
from streamer.schedule.dump import dump_program
from streamer.schedule.importers import FORMATS, import_schedule
from streamer.schedule.load import check_paths
from streamer.schedule.model import Program, Session, title_text
from streamer.schedule.problems import fold
from streamer.timeutil import iso

EXIT_INVALID = 2

group = typer.Typer(
    name="schedule",
    help="Check, import and show conference schedules (one event per YAML file).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.add_typer(group, name="schedule")


def _default_paths(paths: list[Path] | None) -> list[Path]:
    return list(paths) if paths else [Settings().schedules]


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def summary(program: Program) -> list[str]:
    """Lines describing a valid program: conference days, broadcasts, sessions, hours to record.

    Sessions are grouped by conference day (their broadcast's day), so a talk at 01:00 is
    counted with the evening before, and a day's last time may be on the next date ("+1").
    """
    tz = program.event.tz
    recorded = [s for s in program.sessions if s.record]
    to_record = sum((s.duration for s in recorded), timedelta())
    broadcast_time = sum((b.end - b.start for b in program.broadcasts), timedelta())
    by_day: dict[date, list[Session]] = {}
    for s in program.sessions:
        by_day.setdefault(program.session_day(s), []).append(s)
    days = sorted(by_day)
    span = f"{days[0]} – {days[-1]}" if days else "no sessions"
    lines = [
        f"{program.event.id} ({program.source or '<data>'}): {title_text(program.event.title)}",
        f"  {len(days)} days ({span}, {program.event.timezone}), "
        f"{len(program.broadcasts)} broadcasts ({_hours(broadcast_time)}), "
        f"{len(program.sessions)} sessions ({len(recorded)} recorded, "
        f"{len(program.sessions) - len(recorded)} not), {_hours(to_record)} to record",
    ]
    for day in days:
        sessions = by_day[day]
        rec = [s for s in sessions if s.record]
        first = min(s.start for s in sessions).astimezone(tz)
        last = max(s.end for s in sessions).astimezone(tz)
        used = sorted({s.broadcast for s in sessions})
        hours = _hours(sum((s.duration for s in rec), timedelta()))
        lines.append(
            f"  {day:%Y-%m-%d %a}: {_clock(first, day)}–{_clock(last, day)}, {len(sessions)}"
            f" sessions ({len(rec)} recorded, {hours}), broadcasts {', '.join(used)}"
        )
    return lines


def _clock(moment: datetime, day: date) -> str:
    """HH:MM, with "+1" when it falls on a later date than the conference day."""
    later = (moment.date() - day).days
    return f"{moment:%H:%M}" + (f" (+{later})" if later > 0 else "")


@group.command("check")
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Schedule files or directories of *.yaml/*.yml "
            "(default: $STREAMER_SCHEDULES, i.e. schedules/).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print problems only, no summary.")
    ] = False,
) -> None:
    """Validate schedules: exit 0 if valid (warnings and a summary printed), else exit 2.

    Every problem is printed on stdout as `file:line: message`, sorted by file and line. Warnings say `file:line: warning: message` and do not fail the check.
    """  # noqa: E501
    report = check_paths(_default_paths(paths))
    if report.errors:
        for line in report.folded():
            typer.echo(line)
        typer.echo(f"{len(report.errors)} problems; schedules are invalid", err=True)
        raise typer.Exit(EXIT_INVALID)
    if not report.programs:
        typer.echo("no schedule files found (*.yaml, *.yml)")
        raise typer.Exit(EXIT_INVALID)
    for line in report.folded(errors=False):
        typer.echo(line)
    if not quiet:
        for program in report.programs:
            for line in summary(program):
                typer.echo(line)
        typer.echo(f"ok: {len(report.programs)} schedules valid, {len(report.warnings)} warnings")


def _room_urls(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        room, sep, url = value.partition("=")
        if not sep or not room.strip() or not url.strip():
            raise typer.BadParameter(f"{value!r}: expected ROOM=URL", param_hint="--room-url")
        out[room.strip()] = url.strip()
    return out


@group.command("import")
def import_(
    source: Annotated[
        Path,
        typer.Argument(
            help="A pretalx/frab schedule.json (c3voc schema), a frab schedule.xml or a CSV file.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The schedule YAML to write.", dir_okay=False)
    ],
    room_url: Annotated[
        list[str] | None,
        typer.Option(
            "--room-url",
            metavar="ROOM=URL",
            help="Broadcast URL for a room (repeatable); rooms without one get an empty url.",
        ),
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option("--event-id", help="Event id (default: from the source's acronym or title)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help=f"Source format: {' | '.join(('auto', *FORMATS))}.",
            case_sensitive=False,
        ),
    ] = "auto",
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            help="IANA zone for times without an offset (CSV; JSON/XML without time_zone_name).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Refuse the source when a talk would be skipped."),
    ] = False,
) -> None:
    """Convert a pretalx/frab JSON or XML export, a schedule v2 JSON, or a CSV sheet, into schedule YAML.

    One broadcast is made per room and conference day, spanning its talks. The YAML written is checked like `schedule check` before this command succeeds; an existing OUTPUT is kept unless --force is given.
    """  # noqa: E501
    fmt = fmt.lower()
    if fmt != "auto" and fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of auto, {', '.join(FORMATS)}")
    _refuse_output(source, output, force)
    try:
        program, warnings = import_schedule(
            source,
            fmt=fmt,
            room_urls=_room_urls(room_url or []),
            event_id=event_id,
            timezone=timezone,
            strict=strict,
        )
    except ScheduleError as exc:
        for line in exc.problems:
            typer.echo(line)
        raise typer.Exit(EXIT_INVALID) from None
    for line in fold(warnings):
        typer.echo(line)
    text = dump_program(
        program, comment=f"Imported from {source.name} by streamer schedule import."
    )
    _write(output, text)
    # the program was checked by the same checker as `schedule check` (with the source's lines);
    # that the YAML reads back equal is tests/schedule/test_roundtrip.py's property
    for line in summary(program.model_copy(update={"source": str(output)})):
        typer.echo(line)
    typer.echo(f"wrote {output}")


def _refuse_output(source: Path, output: Path, force: bool) -> None:
    """Never overwrite the export itself, nor an existing file without --force."""
    same = output.resolve() == source.resolve()
    if not same and output.exists():
        with contextlib.suppress(OSError):
            same = output.samefile(source)
    if same:
        typer.echo(f"{output}: is the source file; write the schedule elsewhere", err=True)
        raise typer.Exit(EXIT_INVALID)
    if output.exists() and not force:
        typer.echo(f"{output}: exists; pass --force to overwrite it", err=True)
        raise typer.Exit(EXIT_INVALID)
    if output.is_dir():
        typer.echo(f"{output}: is a directory", err=True)
        raise typer.Exit(EXIT_INVALID)


def _write(output: Path, text: str) -> None:
    """Write through a temporary file, so a failed write never leaves half a schedule."""
    try:
        atomic_write(output, text.encode(), mode=0o644)
    except OSError as exc:
        typer.echo(f"{output}: cannot write: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


def program_json(program: Program) -> dict[str, Any]:
    """The program as JSON-ready data, times ISO 8601 with the event zone's offset."""
    tz = program.event.tz
    data: dict[str, Any] = program.model_dump(mode="python")
    for item in (*data["broadcasts"], *data["sessions"]):
        item["start"] = iso(item["start"], tz)
        item["end"] = iso(item["end"], tz)
    for item, broadcast in zip(data["broadcasts"], program.broadcasts, strict=True):
        item["day"] = program.broadcast_day(broadcast).isoformat()
    data["source"] = program.source
    return data


@group.command("show")
def show(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A schedule file or directory (default: $STREAMER_SCHEDULES).", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the program(s) as JSON (ISO times with offset).")
    ] = False,
) -> None:
    """Show the program as a table in the event's timezone (or as JSON)."""
    report = check_paths(_default_paths([path] if path else None))
    if report.errors:
        for line in report.errors:
            typer.echo(line)
        raise typer.Exit(EXIT_INVALID)
    if as_json:
        data = [program_json(p) for p in report.programs]
        out = data[0] if len(data) == 1 else data
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a pipe or a file: no reason to squeeze into 80 columns
    for program in report.programs:
        console.print(_table(program))


def _table(program: Program) -> Table:
    tz = program.event.tz
    table = Table(
        title=f"{title_text(program.event.title)} ({program.event.timezone})",
        show_lines=False,
    )
    for column in ("day", "time", "id"):
        table.add_column(column, no_wrap=True)
    table.add_column("title", ratio=3)
    table.add_column("speakers", ratio=2)
    table.add_column("track", ratio=1)
    for column in ("lang", "broadcast"):
        table.add_column(column, no_wrap=True)
    previous_day = None
    for s in sorted(
        program.sessions, key=lambda s: (program.session_day(s), s.start.timestamp(), s.broadcast)
    ):
        start, end = s.start.astimezone(tz), s.end.astimezone(tz)
        day = f"{program.session_day(s):%m-%d %a}"  # the conference day: 01:00 stays on its evening
        titles = [s.title[k] for k in ("ko", "en") if k in s.title] or list(s.title.values())
        speakers = "; ".join(
            f"{sp.name} ({sp.affiliation})" if sp.affiliation else sp.name for sp in s.speakers
        )
        table.add_row(
            day if day != previous_day else "",
            f"{_clock(start, program.session_day(s))}–{end:%H:%M}",
            s.id if s.record else f"{s.id} (not recorded)",
            "\n".join(titles),
            speakers,
            s.track or "",
            s.language or "",
            s.broadcast,
        )
        previous_day = day
    return table
