"""``streamer demo``: the forum's first sessions on a simulated broadcast, through the real
pipeline (capture → split → publish to local storage), with the API and viewer served."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.pipeline.orchestrator import Orchestrator
from streamer.pipeline.states import SESSION_DONE, SessionState
from streamer.schedule.dump import dump_program
from streamer.schedule.load import load_program
from streamer.schedule.model import Program, title_text
from streamer.service.serve import serve
from streamer.simulate import SimulatedBroadcast
from streamer.timeutil import now

FORUM_FILE = "sejong-smartcity-forum-2021.yaml"
LEAD_S = 6.0  # the capture sees the stream before the first session starts


@dataclass
class DemoResult:
    ok: bool
    lines: list[str] = field(default_factory=list)


def find_forum_schedule(settings: Settings) -> Path:
    for candidate in (
        settings.schedules / FORUM_FILE,
        Path("schedules") / FORUM_FILE,
        Path(__file__).resolve().parents[2] / "schedules" / FORUM_FILE,
    ):
        if candidate.exists():
            return candidate
    raise ConfigError(f"cannot find {FORUM_FILE} (looked in {settings.schedules} and schedules/)")


def compress(program: Program, url: str, start: datetime, count: int, seconds: float) -> Program:
    """The first ``count`` sessions of day 1, ``seconds`` long each, back to back from
    ``start + LEAD_S``, on one broadcast pointing at ``url``."""
    first_day = program.days()[0]
    picked = [s for s in program.sessions if program.day_of(s.start) == first_day and s.record]
    picked = sorted(picked, key=lambda s: s.start)[:count]
    if not picked:
        raise ConfigError("the forum schedule has no recorded session on day 1")
    broadcast = program.broadcast(picked[0].broadcast)
    t = start + timedelta(seconds=LEAD_S)
    sessions = []
    for s in picked:
        end = t + timedelta(seconds=seconds)
        sessions.append(s.model_copy(update={"start": t, "end": end, "broadcast": broadcast.id}))
        t = end
    bc = broadcast.model_copy(update={"url": url, "start": start, "end": t})
    return program.model_copy(update={"broadcasts": [bc], "sessions": sessions})


async def run_demo(
    settings: Settings,
    *,
    port: int,
    once: bool,
    sessions: int = 3,
    session_s: float = 20.0,
    console: Console | None = None,
) -> DemoResult:
    console = console or Console()
    forum = load_program(find_forum_schedule(settings))
    root = settings.data_dir / "demo"
    if root.exists():
        shutil.rmtree(root)  # the demo's own scratch dir, rebuilt every run
    (root / "schedules").mkdir(parents=True)
    demo_settings = settings.model_copy(
        update={
            "data_dir": root / "data",
            "schedules": root / "schedules",
            "database_url": None,
            "storage": None,
            "grace_s": 3.0,
            "watch_lead_s": 60.0,
            "late_limit_s": 60.0,
            "stall_timeout_s": 10.0,
            "watch_poll_s": 2.0,
            "port": port,
            # the simulated broadcast is on 127.0.0.1: opt in to private sources, explicitly
            "allow_private_sources": True,
        }
    )
    sim = SimulatedBroadcast(root / "sim", segment_s=1.0, width=640, height=360)
    sim.start()
    try:
        await asyncio.to_thread(sim.wait_ready)
        program = compress(forum, sim.url, now(), sessions, session_s)
        (root / "schedules" / FORUM_FILE).write_text(dump_program(program), "utf-8")
        orch = Orchestrator(demo_settings, tick_s=1.0)
        published_at: dict[str, datetime] = {}

        def on_event(kind: str, payload: dict[str, object]) -> None:
            if kind == "session.published":
                published_at[str(payload["session_id"])] = now()

        orch.listeners.append(on_event)
        async with serve(demo_settings, orch, port=port) as base:
            _banner(console, program, sim.url, base, demo_settings.data_dir)
            end = program.broadcasts[0].end
            deadline = end + timedelta(seconds=120)
            stopped = False
            seen: dict[str, str] = {}
            while True:
                moment = now()
                if not stopped and moment >= end + timedelta(seconds=2):
                    sim.stop()  # the broadcast ends: ENDLIST
                    stopped = True
                views = orch.store.sessions(program.event.id)
                clock = f"{moment.astimezone(program.event.tz):%H:%M:%S}"
                for v in views:
                    if seen.get(v.id) != v.state:
                        why = f" ({v.reason})" if v.reason else ""
                        console.print(f"  {clock} {v.id} → {v.state}{why}", highlight=False)
                        seen[v.id] = v.state
                done = all(v.state in SESSION_DONE for v in views)
                failed_for_good = [
                    v for v in views if v.state == SessionState.FAILED and v.next_try_at is None
                ]
                if done or failed_for_good or moment > deadline:
                    break
                await asyncio.sleep(1.0)
            result = _summary(orch, program, published_at, demo_settings.grace_s, console)
            if not once and result.ok:
                console.print("Serving until Ctrl-C.")
                await asyncio.Event().wait()
            return result
    finally:
        sim.close()


def _banner(console: Console, program: Program, sim_url: str, base: str, files: Path) -> None:
    console.print(f"[bold]streamer demo[/bold]: {title_text(program.event.title)}")
    console.print(f"  simulated broadcast  {sim_url}")
    console.print(f"  viewer               {base}/")
    console.print(f"  VOD index (JSON)     {base}/api/v1/vods")
    console.print(f"  program with states  {base}/api/v1/events/{program.event.id}/sessions")
    console.print(f"  files                {files}")


def _summary(
    orch: Orchestrator,
    program: Program,
    published_at: dict[str, datetime],
    grace_s: float,
    console: Console,
) -> DemoResult:
    table = Table(title="demo sessions")
    for col in ("session", "state", "coverage", "end+grace → in index.json", "reason"):
        table.add_column(col)
    ok = True
    lines = []
    for v in orch.store.sessions(program.event.id):
        ready = v.end + timedelta(seconds=grace_s)
        latency = (
            f"{(published_at[v.id] - ready).total_seconds():.1f} s" if v.id in published_at else "-"
        )
        cov = f"{v.coverage:.0%}" if v.coverage is not None else "-"
        table.add_row(v.id, v.state, cov, latency, v.reason or "")
        if v.state != SessionState.PUBLISHED:
            ok = False
            lines.append(f"{v.id}: {v.state}: {v.reason or 'not published'}")
    console.print(table)
    return DemoResult(ok, lines)
