"""CLI command: ``streamer mark SESSION start|end [--at TIME]`` (an operator mark)."""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from typing import Annotated

import typer

from streamer.config import Settings
from streamer.detect import Edge
from streamer.errors import InvalidRequest
from streamer.pipeline.marks import MarkStore
from streamer.pipeline.store import Store
from streamer.timeutil import aware


def mark_command(
    session: Annotated[str, typer.Argument(help="Session id (or event.session).")],
    edge: Annotated[Edge, typer.Argument(help="start or end.")],
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO 8601 time (no offset: the event's zone); default now."),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who marks (default: your login).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored mark as JSON.")] = False,
) -> None:
    """Mark that a session really started or ended; a mark is an exact boundary."""
    settings = Settings()
    store = Store(settings.db_url)
    try:
        marks = MarkStore(store)
        when: datetime | None = None
        if at is not None:
            found = store.find_session(session)
            try:
                when = aware(datetime.fromisoformat(at), store.program(found.event_id).event.tz)
            except ValueError as exc:
                raise InvalidRequest(f"--at {at!r} is not an ISO 8601 time") from exc
        who = by or _login()
        made = marks.add(session, edge, when, by=who, source="cli")
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(made.to_json()))
    else:
        typer.echo(f"marked {made.event_id}.{made.session_id} {made.edge.value} at {made.at}")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in a container
        return "cli"


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("mark")(mark_command)
