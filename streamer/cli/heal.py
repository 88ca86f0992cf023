"""CLI command ``heal``: fill a recording's gaps from the source now, say what stays missing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from streamer.capture.backfill import heal_directory
from streamer.capture.heal import describe
from streamer.capture.timeline import TIMELINE
from streamer.config import Settings
from streamer.errors import CaptureError
from streamer.simulate.youtube_info import FileResolver
from streamer.timeutil import iso, zone
from streamer.youtube import Resolver

# Exit codes: 0 nothing missing, 10 something stays missing (each gap says why).
EXIT_INCOMPLETE = 10


def register(app: typer.Typer) -> None:
    @app.command("heal")
    def heal_cmd(
        directory: Path = typer.Argument(..., help="A recording directory."),
        url: str | None = typer.Option(None, help="Broadcast URL (default: the recorded one)."),
        from_start: bool = typer.Option(
            False, "--from-start", help="Also fill back to the broadcast's actual start."
        ),
        info_json: Path | None = typer.Option(
            None,
            "--info-json",
            help="yt-dlp -J output instead of the site; NAME.from-start.json beside it "
            "(-J --live-from-start) is used for the heal.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
        tz: str | None = typer.Option(None, "--tz", help="Show times in this IANA zone."),
    ) -> None:
        """Fill DIR's gaps from the broadcast's DVR (live), post-live fragments or archive.
        Exit 0 when nothing is missing, 10 when gaps stay (with the reason for each)."""
        if not (directory / TIMELINE).is_file():
            raise CaptureError(f"{directory}: not a recording (no {TIMELINE})")
        settings = Settings()
        source = FileResolver(info_json, settings.max_height) if info_json else Resolver(settings)
        report = asyncio.run(
            heal_directory(directory, source, url=url, from_start=from_start, settings=settings)
        )
        tzinfo = zone(tz) if tz else None
        if as_json:
            out = {
                "healed_s": round(report.healed_s, 3),
                "segments": report.segments,
                "by_source": {k: round(v, 3) for k, v in report.by_source.items()},
                "source_status": report.status,
                "missing": [
                    {"start": iso(s, tzinfo), "end": iso(e, tzinfo), "reason": r}
                    for s, e, r in report.remaining
                ],
            }
            typer.echo(json.dumps(out, indent=2))
        else:
            for line in describe(report, tzinfo):
                typer.echo(line)
        raise typer.Exit(0 if report.complete else EXIT_INCOMPLETE)
