"""CLI command: ``streamer suggest DIR --schedule FILE [--session ID]... [--json]``."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from streamer.capture.timeline import Timeline
from streamer.cli.split import select_sessions
from streamer.config import Settings
from streamer.detect import Edge, Mark, suggest_sessions
from streamer.detect import Settings as DetectSettings
from streamer.detect.suggest import DEFAULT_MIN_BREAK_S, DEFAULT_RADIUS_S
from streamer.errors import InvalidRequest
from streamer.schedule.load import load_program


def read_marks(path: Path) -> list[Mark]:
    """Marks from a JSON list of ``{"session", "edge": "start"|"end", "at", "by"?}``."""
    try:
        rows = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"{path}: cannot read marks: {exc}") from exc
    if not isinstance(rows, list):
        raise InvalidRequest(f"{path}: marks must be a JSON list")
    marks: list[Mark] = []
    for n, row in enumerate(rows, 1):
        where = f"{path}: mark {n}"
        if not isinstance(row, dict) or not {"session", "edge", "at"} <= set(row):
            raise InvalidRequest(f"{where}: needs session, edge and at")
        try:
            edge = Edge(row["edge"])
        except ValueError as exc:
            raise InvalidRequest(f"{where}: edge {row['edge']!r} is not start or end") from exc
        try:
            at = datetime.fromisoformat(str(row["at"]))
        except ValueError as exc:
            raise InvalidRequest(f"{where}: {row['at']!r} is not an ISO 8601 time") from exc
        if at.utcoffset() is None:
            raise InvalidRequest(f"{where}: {row['at']!r} has no UTC offset")
        marks.append(Mark(str(row["session"]), edge, at, str(row.get("by", ""))))
    return marks


def _stored_marks(event_id: str) -> list[Mark]:
    from streamer.pipeline.marks import MarkStore
    from streamer.pipeline.store import Store

    store = Store(Settings().db_url)
    try:
        return MarkStore(store).in_force(event_id)
    finally:
        store.close()


def suggest_command(
    directory: Annotated[
        Path, typer.Argument(help="One broadcast's recording directory.", exists=True)
    ],
    schedule: Annotated[Path, typer.Option("--schedule", help="The event's schedule YAML.")],
    session: Annotated[
        list[str] | None, typer.Option("--session", help="Session id (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    radius: Annotated[
        float, typer.Option("--radius", help="Seconds searched either side of a boundary.")
    ] = DEFAULT_RADIUS_S,
    min_break: Annotated[
        float, typer.Option("--min-break", help="Shortest break taken for one (seconds).")
    ] = DEFAULT_MIN_BREAK_S,
    marks: Annotated[
        Path | None, typer.Option("--marks", help="Operator marks (JSON list); they win.")
    ] = None,
    state_marks: Annotated[
        bool,
        typer.Option("--state-marks", help="Also use the marks in the state DB (streamer mark)."),
    ] = False,
) -> None:
    """Suggest each session's real start and end from the recording around its boundaries."""
    if radius <= 0:
        raise typer.BadParameter("must be positive", param_hint="--radius")
    program = load_program(schedule)
    timeline = Timeline.load(directory)
    sessions = select_sessions(program, timeline, session)
    known = read_marks(marks) if marks else []
    if state_marks:
        known = _stored_marks(program.event.id) + known
    started = time.monotonic()
    out = suggest_sessions(
        timeline,
        program,
        sessions,
        settings=DetectSettings(radius_s=radius, min_break_s=min_break),
        marks=known,
    )
    took = time.monotonic() - started
    tz = program.event.tz
    if as_json:
        body: dict[str, Any] = {"sessions": [s.to_json(tz) for s in out]}
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    table = Table("session", "scheduled", "suggested", "Δ start", "confidence", "signals")
    for s in out:
        delta = (s.start - s.session.start).total_seconds()
        kinds = sorted({sig.kind for sig in s.signals})
        table.add_row(
            s.session.id,
            f"{s.session.start.astimezone(tz):%H:%M:%S}-{s.session.end.astimezone(tz):%H:%M:%S}",
            f"{s.start.astimezone(tz):%H:%M:%S}-{s.end.astimezone(tz):%H:%M:%S}",
            f"{delta:+.0f} s",
            f"{s.confidence:.2f}",
            ", ".join(kinds),
        )
    console = Console()
    console.print(table)
    console.print(f"analysed in {took:.1f} s", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("suggest")(suggest_command)
