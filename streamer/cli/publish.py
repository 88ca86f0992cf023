"""CLI commands: ``publish DIR [--to URL] [--dry-run]`` and ``unpublish EVENT SESSION``."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from streamer.config import Settings
from streamer.errors import StreamerError
from streamer.publish.catalog import Publisher
from streamer.publish.open import open_storage

TO_HELP = "Storage URL: file:///path or s3://bucket/prefix (default: STREAMER_STORAGE)."


def publish(
    directory: Path = typer.Argument(
        ..., help="Split output: {event}/{session}.mp4 + .json (+ .jpg), {event}/event.json."
    ),
    to: str | None = typer.Option(None, "--to", help=TO_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    refresh_urls: bool = typer.Option(
        False, "--refresh-urls", help="Rewrite records whose URLs changed (new CDN, presigning)."
    ),
) -> None:
    """Publish VODs: media, then records, then each event's index, events.json and feed."""
    console = Console(stderr=True)
    try:
        storage = open_storage(Settings(), to)
        with _progress(console) as bar:
            tasks: dict[str, TaskID] = {}

            def on_progress(key: str, done: int, total: int) -> None:
                if key not in tasks:
                    tasks[key] = bar.add_task(key, total=total)
                bar.update(tasks[key], completed=done, total=total)

            publisher = Publisher(
                storage, on_progress=on_progress, dry_run=dry_run, refresh_urls=refresh_urls
            )
            records = publisher.publish_dir(directory)
    except StreamerError as exc:
        _fail(exc)
    report = publisher.report
    verb = "would upload" if dry_run else "uploaded"
    for key in report.uploaded:
        typer.echo(f"{verb} {key}")
    typer.echo(
        f"{len(records)} VOD(s) in {storage!r}: {verb} {len(report.uploaded)} object(s), "
        f"{report.bytes_uploaded} bytes; {len(report.skipped)} unchanged"
    )


def unpublish(
    event_id: str = typer.Argument(..., help="Event id."),
    session_id: str = typer.Argument(..., help="Session id."),
    to: str | None = typer.Option(None, "--to", "--from", help=TO_HELP),
) -> None:
    """Remove a VOD: its index entry first, then its objects.

    When the service's state DB knows the session and the VOD is in the service's own storage,
    this goes through the state machine, as the admin route does: only a published session
    can be unpublished, and it is then ``unpublished`` in the DB."""
    from streamer.pipeline import stages  # the state DB only when unpublishing

    try:
        settings = Settings()
        storage = open_storage(settings, to)
        publisher = Publisher(storage)
        own = to is None or to == settings.storage_url
        if own and stages.tracked(settings, event_id, session_id):
            stages.unpublish_stage(settings, event_id, session_id, publisher)
        else:
            publisher.unpublish(event_id, session_id)
    except StreamerError as exc:
        _fail(exc)
    for key in publisher.report.deleted:
        typer.echo(f"deleted {key}")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _fail(exc: StreamerError) -> NoReturn:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(exc.exit_code)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("publish")(publish)
    app.command("unpublish")(unpublish)
