"""The ``streamer`` command. Each group of commands lives in its own module with ``register``."""

from __future__ import annotations

import sys

import typer

from streamer import __version__
from streamer.cli import capture, heal, mark, publish, schedule, service, split, suggest, worker
from streamer.errors import StreamerError

app = typer.Typer(
    name="streamer",
    help="Follow a conference's live broadcasts, record them, cut one VOD per session, publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streamer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """streamer: livestream orchestration and archiving."""


for module in (schedule, capture, heal, split, suggest, mark, publish, service, worker):
    module.register(app)


def main() -> None:
    try:
        app()
    except StreamerError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
