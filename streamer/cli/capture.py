"""CLI commands: capture (``record``, ``inspect``, ``simulate``)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from streamer.capture.backfill import record_with_backfill
from streamer.capture.heal import describe
from streamer.capture.hls import Progress, RecordResult, record
from streamer.capture.timeline import TIMELINE, Gap, Timeline
from streamer.capture.watcher import WatchStatus, watch
from streamer.config import Settings
from streamer.errors import CaptureError, ConfigError, ResolveError
from streamer.simulate.youtube_info import FileResolver
from streamer.timeutil import iso, now, parse_iso, zone
from streamer.youtube import Resolver, resolve_async

# Exit codes of ``record``: 0 ended/stopped, 4 failed, 10 stalled (data kept, source vanished).
EXIT_CODES = {"ended": 0, "stopped": 0, "failed": 4, "stalled": 10}


def _parse_until(text: str, tz_name: str | None) -> datetime:
    try:
        return parse_iso(text, zone(tz_name) if tz_name else UTC)
    except ValueError as exc:
        raise ConfigError(f"--until {text!r} is not an ISO 8601 time: {exc}") from exc


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _progress_text(p: Progress) -> Text:
    lag = f"{p.lag_s:.1f}s" if p.lag_s is not None else "-"
    seq = p.last_seq if p.last_seq is not None else "-"
    return Text(
        f"{p.status} {timedelta(seconds=int(p.elapsed_s))}  segments {p.segments}  "
        f"{_size(p.bytes)}  gaps {p.gaps}  part {p.part}  seq {seq}  lag {lag}"
    )


async def _record_main(
    url: str,
    out: Path,
    until: datetime | None,
    duration: float | None,
    stall_timeout: float,
    settings: Settings,
    wait: bool,
    console: Console,
    heal: bool = True,
    from_start: bool = False,
    info_json: Path | None = None,
) -> RecordResult | str:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    hits = {"n": 0}

    def on_signal(sig: signal.Signals) -> None:
        hits["n"] += 1
        stop.set()
        if hits["n"] > 1:  # a second signal: give the default handler back
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    resolver: Resolver | FileResolver = (
        FileResolver(info_json, settings.max_height) if info_json else Resolver(settings)
    )
    if duration is not None:
        end = now() + timedelta(seconds=duration)
        until = end if until is None else min(until, end)
        duration = None
    try:
        first = await resolve_async(resolver, url) if not wait else None
    except ResolveError as exc:
        return f"failed: {exc}"
    if wait or (first is not None and first.is_upcoming):
        limit = until or now() + timedelta(seconds=settings.late_limit_s)

        def on_status(status: WatchStatus) -> None:
            info = status.info
            what = status.error or (info.live_status if info else "?")
            when = f", expected {iso(info.release_time)}" if info and info.release_time else ""
            console.print(f"waiting: {what}{when}; next check in {status.next_poll_s:.0f}s")

        try:
            watched = await watch(
                resolver, url, not_after=limit, poll_s=15.0, on_status=on_status, stop=stop
            )
        except ResolveError as exc:
            return f"failed: {exc}"
        if watched.state in ("missed", "stopped"):
            return f"{'stopped' if watched.state == 'stopped' else 'failed'}: {watched.reason}"

    last: list[Progress] = []
    interactive = console.is_terminal
    printed = {"at": 0.0}
    with Live(Text("starting"), console=console, transient=True, auto_refresh=False) as live:

        def on_progress(p: Progress) -> None:
            last[:] = [p]
            if interactive:
                live.update(_progress_text(p), refresh=True)
            elif time.monotonic() - printed["at"] >= 10:
                printed["at"] = time.monotonic()
                console.print(_progress_text(p))

        if not heal:
            return await record(
                url,
                out,
                resolver=resolver,
                until=until,
                stall_timeout_s=stall_timeout,
                stop=stop,
                on_progress=on_progress,
                settings=settings,
            )
        healed = await record_with_backfill(
            url,
            out,
            resolver=resolver,
            settings=settings,
            from_start=from_start,
            until=until,
            stall_timeout_s=stall_timeout,
            stop=stop,
            on_progress=on_progress,
        )
        if healed.final is not None:
            for line in describe(healed.final):
                console.print(f"heal: {line}")
        return healed.record


def _when(value: datetime, tz: Any) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _gap_reason(timeline: Timeline, gap: Gap) -> str:
    """The newest reason written for the gap's time (the recorder's, or a heal's)."""
    return gap.reason


def _print_timeline(timeline: Timeline, tz: Any, console: Console) -> None:
    zone_name = getattr(tz, "key", None) or str(tz)
    parts = Table(title=f"{timeline.directory} (times in {zone_name})", title_justify="left")
    for name in ("part", "start", "end", "duration", "segments", "reason"):
        parts.add_column(name)
    for p in timeline.parts():
        parts.add_row(
            str(p.index),
            _when(p.start, tz),
            _when(p.end, tz),
            f"{p.duration_s:.1f}s",
            str(len(p.segments)),
            p.reason,
        )
    console.print(parts)
    gaps = timeline.gaps()
    if gaps:
        table = Table(title="gaps", title_justify="left")
        for name in ("start", "end", "duration", "reason"):
            table.add_column(name)
        for g in gaps:
            table.add_row(
                _when(g.start, tz),
                _when(g.end, tz),
                f"{g.duration_s:.1f}s",
                _gap_reason(timeline, g),
            )
        console.print(table)
    state = timeline.end_state or "open (recording, or interrupted)"
    reason = f": {timeline.end_reason}" if timeline.end_reason else ""
    prov = timeline.provenance()
    console.print(
        f"covered {timeline.covered_s():.1f}s (live {prov['live']:.1f}s, dvr {prov['dvr']:.1f}s, "
        f"archive {prov['archive']:.1f}s), {len(gaps)} gap(s), "
        f"{sum(s.bytes for s in timeline.segments) / 1e6:.1f} MB; state {state}{reason}"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""

    @app.command("record")
    def record_cmd(
        url: str = typer.Argument(..., help="YouTube watch or /live URL, video id, or HLS URL."),
        out: Path = typer.Option(..., "--out", "-o", help="Recording directory (resumed)."),
        until: str | None = typer.Option(None, help="Stop at this ISO time."),
        duration: float | None = typer.Option(None, min=0.1, help="Stop after S seconds."),
        stall_timeout: float | None = typer.Option(
            None, min=1.0, help="Stop when no segment came for S seconds and it is not live."
        ),
        tz: str | None = typer.Option(None, "--tz", help="Zone for an --until without offset."),
        max_height: int | None = typer.Option(None, help="Best variant up to this height."),
        wait: bool = typer.Option(
            False, "--wait", help="Wait (until --until or the late limit) for it to go live."
        ),
        from_start: bool = typer.Option(
            False, "--from-start", help="Backfill from the DVR back to the broadcast's start."
        ),
        heal: bool = typer.Option(
            True, "--heal/--no-heal", help="Fill gaps from the DVR while live and after the end."
        ),
        info_json: Path | None = typer.Option(
            None,
            "--info-json",
            help="yt-dlp -J output instead of the site; NAME.from-start.json beside it "
            "(-J --live-from-start) is used for the heal.",
        ),
    ) -> None:
        """Record a live broadcast into DIR; Ctrl-C stops cleanly. Exit 0 ended/stopped,
        4 failed, 10 stalled."""
        if until is not None and duration is not None:
            raise ConfigError("give --until or --duration, not both")
        settings = Settings()
        if max_height is not None:
            settings = settings.model_copy(update={"max_height": max_height})
        deadline = _parse_until(until, tz) if until else None
        console = Console(stderr=True)
        outcome = asyncio.run(
            _record_main(
                url,
                out,
                deadline,
                duration,
                stall_timeout if stall_timeout is not None else settings.stall_timeout_s,
                settings,
                wait,
                console,
                heal,
                from_start,
                info_json,
            )
        )
        if isinstance(outcome, str):
            typer.echo(outcome)
            raise typer.Exit(0 if outcome.startswith("stopped") else EXIT_CODES["failed"])
        result = outcome
        typer.echo(
            f"{result.state}: {result.reason} "
            f"({result.segments} segments, {_size(result.bytes)}, {result.gaps} gaps, "
            f"in {result.out_dir})"
        )
        raise typer.Exit(EXIT_CODES[result.state])

    @app.command("inspect")
    def inspect_cmd(
        directory: Path = typer.Argument(..., help="A recording directory."),
        as_json: bool = typer.Option(False, "--json", help="Print the timeline as JSON."),
        tz: str | None = typer.Option(None, "--tz", help="Show times in this IANA zone."),
    ) -> None:
        """Show a recording's parts, gaps and coverage."""
        if not (directory / TIMELINE).is_file():
            raise CaptureError(f"{directory}: not a recording (no {TIMELINE})")
        timeline = Timeline.load(directory)
        zone_info = zone(tz) if tz else UTC
        if as_json:
            typer.echo(json.dumps(timeline.to_json(zone_info), indent=2, ensure_ascii=False))
        else:
            _print_timeline(timeline, zone_info, Console())

    @app.command("simulate")
    def simulate_cmd(
        out: Path | None = typer.Option(None, "--out", help="Where segments go (a temp dir)."),
        port: int = typer.Option(0, help="Port on 127.0.0.1 (0: any free port)."),
        segment_s: float = typer.Option(1.0, min=0.5, help="Segment length."),
        size: str = typer.Option("640x360", help="Picture size WxH."),
        window: int = typer.Option(10, min=2, help="Segments in the live window."),
        duration: float | None = typer.Option(None, help="End (ENDLIST) after S seconds."),
        replay: int = typer.Option(0, help="Serve N pre-encoded replay streams instead."),
        youtube: bool = typer.Option(
            False, "--youtube", help="YouTube-shaped: 30 s HLS window, DVR, archive after."
        ),
    ) -> None:
        """Run a simulated live broadcast on loopback until Ctrl-C (or --duration)."""
        from streamer.simulate import ReplayServer, SimulatedBroadcast

        try:
            width, height = (int(v) for v in size.lower().split("x"))
        except ValueError as exc:
            raise ConfigError(f"--size {size!r} is not WxH") from exc
        root = out or Path(tempfile.mkdtemp(prefix="streamer-sim-"))
        if youtube:
            _simulate_youtube(root, segment_s, width, height, duration or 600.0)
            return
        deadline = time.monotonic() + duration if duration else None
        if replay:
            server = ReplayServer(
                root,
                streams=replay,
                segment_s=segment_s,
                width=width,
                height=height,
                window=window,
                port=port,
            ).start()
            typer.echo(f"replay: {server.url(0)} ... /s{replay - 1}/live.m3u8")
            try:
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
            server.close()
            return
        sim = SimulatedBroadcast(
            root, segment_s=segment_s, width=width, height=height, window=window, port=port
        ).start()
        typer.echo(f"live: {sim.url}  (media playlist {sim.media_url}, files in {root})")
        sys.stdout.flush()
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        sim.stop()
        typer.echo("stopped (ENDLIST written)")
        time.sleep(1.0)
        sim.close()


def _simulate_youtube(
    root: Path, segment_s: float, width: int, height: int, duration: float
) -> None:
    from streamer.cli import simulate_youtube

    count = [0]

    def interrupted(signum: int, frame: object) -> None:
        count[0] += 1

    def echo(line: str) -> None:
        typer.echo(line)
        sys.stdout.flush()

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        simulate_youtube.run(
            root,
            segment_s=segment_s,
            width=width,
            height=height,
            duration=duration,
            echo=echo,
            interrupts=lambda: count[0],
        )
    finally:
        signal.signal(signal.SIGINT, previous)
