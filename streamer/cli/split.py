"""CLI command: ``streamer split DIR --schedule FILE --out OUT`` (one VOD per session)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from streamer.capture.timeline import Timeline
from streamer.errors import SplitError, StreamerError
from streamer.files import atomic_write
from streamer.schedule.load import load_program
from streamer.schedule.model import Program, Session
from streamer.split import SplitResult, split_session
from streamer.split.chapters import chapters_text


def select_sessions(
    program: Program, timeline: Timeline, wanted: list[str] | None
) -> list[Session]:
    """The sessions asked for; by default those of the recording's broadcast (from
    ``recording.json``) or, failing that, every recorded session overlapping the recording."""
    if wanted:
        out = []
        for sid in wanted:
            try:
                out.append(program.session(sid))
            except KeyError as exc:
                known = ", ".join(s.id for s in program.sessions[:8])
                raise SplitError(f"no session {sid!r} in {program.event.id} ({known}…)") from exc
        return out
    broadcast_id = timeline.meta.get("broadcast_id")
    if broadcast_id:
        return [s for s in program.sessions_of(str(broadcast_id)) if s.record]
    lo, hi = timeline.start, timeline.end
    if lo is None or hi is None:
        raise SplitError(f"{timeline.directory}: the recording has no segments")
    return sorted(
        (s for s in program.sessions if s.record and s.start < hi and s.end > lo),
        key=lambda s: s.start,
    )


def write_chapters(program: Program, timeline: Timeline, broadcast_id: str, out: Path) -> Path:
    path = out / program.event.id / f"chapters-{broadcast_id}.txt"
    atomic_write(path, chapters_text(timeline, program, broadcast_id).encode())
    return path


def _summary(s: Session, res: SplitResult, took: float) -> str:
    rec = res.record
    if res.skipped:
        state = "[dim]skipped[/dim]"
    elif rec.status == "incomplete":
        state = f"[yellow]incomplete[/yellow] ({rec.coverage:.1%})"
    else:
        state = "[green]ok[/green]"
    detail = f"{rec.duration_s:.1f} s, {rec.size_bytes / 1e6:.1f} MB"
    if not res.skipped:
        detail += f", {took:.1f} s to cut"
    return f"{state} {s.id} ({detail})"


def split_command(
    directory: Annotated[
        Path, typer.Argument(help="One broadcast's recording directory.", exists=True)
    ],
    schedule: Annotated[Path, typer.Option("--schedule", help="The event's schedule YAML.")],
    out: Annotated[Path, typer.Option("--out", help="Output root: OUT/{event}/{session}.*")],
    session: Annotated[
        list[str] | None, typer.Option("--session", help="Session id (repeatable).")
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="exact (frame-exact, default) or copy (keyframes).")
    ] = "exact",
    force: Annotated[bool, typer.Option("--force", help="Redo up-to-date outputs.")] = False,
    pad: Annotated[float, typer.Option("--pad", help="Seconds added on both sides.")] = 0.0,
    jobs: Annotated[int, typer.Option("--jobs", help="Sessions cut at the same time.")] = 2,
) -> None:
    """Cut one VOD per session (MP4, thumbnail, JSON record) and write YouTube chapters."""
    if mode not in ("exact", "copy"):
        raise typer.BadParameter("must be exact or copy", param_hint="--mode")
    cut_mode: Literal["exact", "copy"] = "exact" if mode == "exact" else "copy"
    program = load_program(schedule)
    timeline = Timeline.load(directory)
    sessions = select_sessions(program, timeline, session)
    console = Console()
    if not sessions:
        console.print("no sessions of this schedule overlap the recording")
        raise typer.Exit(1)

    def one(s: Session) -> tuple[SplitResult | StreamerError, float]:
        started = time.monotonic()
        try:
            res: SplitResult | StreamerError = split_session(
                directory, program, s.id, out, mode=cut_mode, pad_s=pad, force=force
            )
        except StreamerError as exc:
            res = exc
        return res, time.monotonic() - started

    failed = 0
    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress,
        ThreadPoolExecutor(max_workers=max(1, jobs)) as pool,
    ):
        overall = progress.add_task("split", total=len(sessions))
        # while one session's MP4 is written (I/O), the next one's ends are re-encoded (CPU)
        futures = {pool.submit(one, s): s for s in sessions}
        for fut in as_completed(futures):
            s = futures[fut]
            res, took = fut.result()
            if isinstance(res, StreamerError):
                failed += 1
                text = str(res).removeprefix(f"{s.id}: ")
                label = "missing" if "missing:" in text else "failed"
                console.print(f"[red]{label}[/red] {s.id}: {text}", highlight=False)
            else:
                console.print(_summary(s, res, took), highlight=False)
                for gap in res.record.gaps:
                    console.print(f"    gap {gap.start} - {gap.end} ({gap.duration_s:.1f} s)")
            progress.advance(overall)
    own = timeline.meta.get("broadcast_id")
    # chapters count from this recording's start, so only its own broadcast gets them
    for broadcast_id in [str(own)] if own else sorted({s.broadcast for s in sessions}):
        path = write_chapters(program, timeline, broadcast_id, out)
        console.print(f"chapters: {path}", highlight=False)
    if failed:
        raise typer.Exit(SplitError.exit_code)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("split")(split_command)
