"""CLI commands: run, demo, status (the service itself)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from streamer.config import Settings
from streamer.logs import setup as setup_logging


def _settings() -> Settings:
    return Settings()


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run(
    port: int = typer.Option(
        None, "--port", "-p", help="API port (default STREAMER_PORT or 8000)."
    ),
    host: str = typer.Option(None, "--host", help="Bind address (default STREAMER_HOST)."),
) -> None:
    """Run the service: follow every broadcast in the schedules, split, publish, serve the API.

    SIGINT/SIGTERM stop captures cleanly; the next start resumes them.
    """
    from streamer.pipeline.orchestrator import Orchestrator
    from streamer.service.serve import serve

    settings = _settings()
    setup_logging(settings.log_level)
    settings.admin_token_value()  # refuse a placeholder token outside development, early

    def serving(base: str) -> None:
        Console(stderr=True).print(f"streamer running: {base}/  (API {base}/api/v1/vods)")

    async def main() -> None:
        if settings.runner == "procrastinate":
            # one planner among all `streamer run`s: the others stand by (advisory lock)
            from streamer.service.elected import run_elected

            elected = asyncio.ensure_future(
                run_elected(settings, port=port or settings.port, host=host, on_serving=serving)
            )
            stopper = asyncio.ensure_future(_until_signal())
            await asyncio.wait({elected, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (elected, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return
        orch = Orchestrator(settings)
        async with serve(settings, orch, port=port or settings.port, host=host) as base:
            serving(base)
            await _until_signal()

    asyncio.run(main())


def demo(
    once: bool = typer.Option(False, "--once", help="Exit when every session is published."),
    port: int = typer.Option(8000, "--port", "-p", help="Port of the API and viewer."),
    sessions: int = typer.Option(3, "--sessions", min=1, max=10, help="Sessions of day 1."),
    session_seconds: float = typer.Option(
        20.0, "--session-seconds", min=5, max=600, help="Length of each compressed session."
    ),
) -> None:
    """The forum's first sessions on a simulated broadcast, through the real pipeline.

    Captures a local ffmpeg broadcast, cuts one VOD per session, publishes them to local
    storage under data/demo/, and serves the viewer at http://127.0.0.1:PORT/.
    """
    from streamer.service.demo import run_demo

    settings = _settings()
    setup_logging("WARNING")

    async def main() -> bool:
        task = asyncio.ensure_future(
            run_demo(settings, port=port, once=once, sessions=sessions, session_s=session_seconds)
        )
        stopper = asyncio.ensure_future(_until_signal())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return True
        stopper.cancel()
        result = task.result()
        for line in result.lines:
            typer.secho(f"demo: {line}", fg=typer.colors.RED, err=True)
        return result.ok

    ok = asyncio.run(main())
    if not ok:
        raise typer.Exit(1)


def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Broadcasts and sessions with their state, progress and last error (from the state DB)."""
    from streamer.pipeline.status import status_of
    from streamer.pipeline.store import Store

    settings = _settings()
    data = status_of(Store(settings.db_url), vods_dir=settings.vods_dir)
    if settings.runner == "procrastinate":
        from streamer.distributed.db import settings_dsn
        from streamer.distributed.monitor import snapshot

        data.update(snapshot(settings_dsn(settings)))
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    _print_status(data)


def _when(value: str) -> str:
    """``MM-DD HH:MM`` of an ISO time (already in the event's zone)."""
    return f"{value[5:10]} {value[11:16]}"


def _print_status(data: dict[str, Any]) -> None:
    console = Console()
    for event in data["events"] or [{"id": None, "timezone": "UTC"}]:
        eid = event["id"]
        bt = Table(title=f"{eid or ''} broadcasts ({event['timezone']})", title_justify="left")
        bt.add_column("id", no_wrap=True)
        bt.add_column("state", no_wrap=True)
        bt.add_column("window", no_wrap=True)
        bt.add_column("segs", justify="right")
        bt.add_column("MB", justify="right")
        bt.add_column("gaps", justify="right")
        bt.add_column("reason", overflow="fold")
        for b in (b for b in data["broadcasts"] if b["event_id"] == eid):
            rec = b["recording"] or {}
            bt.add_row(
                b["id"],
                b["state"],
                f"{_when(b['start'])}–{b['end'][11:16]}",
                str(rec.get("segments", "")),
                f"{rec.get('bytes', 0) / 1e6:.1f}" if rec else "",
                str(rec.get("gaps", "")),
                b["reason"] or "",
            )
        console.print(bt)
        st = Table(title=f"{eid or ''} sessions", title_justify="left")
        st.add_column("id", no_wrap=True, min_width=8)
        st.add_column("start", no_wrap=True, min_width=11)
        st.add_column("state", no_wrap=True, min_width=9)
        st.add_column("cov", justify="right", min_width=4)
        st.add_column("title", overflow="ellipsis", no_wrap=True, max_width=22)
        st.add_column("delay", no_wrap=True)
        st.add_column("cut", no_wrap=True)
        st.add_column("reason", overflow="fold")
        for x in (x for x in data["sessions"] if x["event_id"] == eid):
            cov = f"{x['coverage']:.0%}" if x["coverage"] is not None else ""
            delay = x.get("delay_text", "")
            cut = x.get("cut_source") or ""
            if x.get("confidence") is not None:
                cut += f" {x['confidence']:.2f}"
            if x.get("needs_review"):
                cut += " REVIEW"
            st.add_row(
                x["id"],
                _when(x["start"]),
                x["state"],
                cov,
                x["title_text"],
                "" if delay == "on time" else delay,
                cut,
                x["reason"] or "",
            )
        console.print(st)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(data["counts"].items()))
    console.print(f"sessions by state: {counts or 'none'}")
    for problem in data["schedule_errors"]:
        console.print(f"[red]{problem}[/red]")
    if "workers" in data:
        _print_workers(console, data)


def _print_workers(console: Console, data: dict[str, Any]) -> None:
    """The distributed mode's workers and queue depth."""
    wt = Table(title="workers", title_justify="left")
    for col in ("host", "pid", "queues", "running", "last heartbeat"):
        wt.add_column(col, overflow="fold")
    for w in data["workers"]:
        running = ", ".join(f"{j['task'].rsplit('.', 1)[-1]} {j['args']}" for j in w["running"])
        wt.add_row(
            w["host"], str(w["pid"]), ",".join(w["queues"]), running or "-", w["last_heartbeat"]
        )
    console.print(wt)
    depth = "; ".join(
        f"{q}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        for q, c in sorted(data["queues"].items())
    )
    console.print(f"queues: {depth or 'empty'}")
    for warning in data.get("queue_warnings", []):
        console.print(f"[yellow]{warning}[/yellow]")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(run)
    app.command()(demo)
    app.command()(status)
