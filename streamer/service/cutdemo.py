"""The demo's second part: a simulated programme with known talk boundaries (talks starting
late, slates and applause between them), and the cuts ``suggest`` proposes for it, side by side
with the scheduled and the true starts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from streamer.capture.timeline import TIMELINE, Timeline
from streamer.detect import Settings as DetectSettings
from streamer.detect import suggest_sessions
from streamer.simulate.program import Day, DaySpec, plan_day, render_day

# four short talks, each 0–90 s late, so the demo stays a minute or two
DEMO_DAY = DaySpec(
    talks=4,
    talk_s=(60.0, 90.0),
    break_s=(20.0, 40.0),
    late_s=(0.0, 90.0),
    grid_s=10.0,
    lead_s=30.0,
    tail_s=20.0,
    seed=13,
)
DEMO_RADIUS_S = 150.0


@dataclass(frozen=True)
class CutRow:
    session: str
    scheduled: str
    suggested: str
    true: str
    error_s: float
    confidence: float


def cut_rows(day: Day, directory: Path, radius_s: float = DEMO_RADIUS_S) -> list[CutRow]:
    """Suggest every talk's cut on the rendered ``day`` and set it beside the truth."""
    program = day.program()
    tz = program.event.tz
    found = suggest_sessions(
        Timeline.load(directory),
        program,
        program.sessions,
        settings=DetectSettings(radius_s=radius_s),
    )
    rows = []
    for s in found:
        talk = day.talk(s.session.id)
        rows.append(
            CutRow(
                session=talk.id,
                scheduled=f"{talk.scheduled_start.astimezone(tz):%H:%M:%S}",
                suggested=f"{s.start.astimezone(tz):%H:%M:%S.%f}"[:-4],
                true=f"{talk.true_start.astimezone(tz):%H:%M:%S.%f}"[:-4],
                error_s=round((s.start - talk.true_start).total_seconds(), 2),
                confidence=round(s.confidence, 2),
            )
        )
    return rows


def print_cut_table(rows: list[CutRow], console: Console) -> None:
    table = Table(title="cut detection on a simulated programme (talks start late)")
    for col in ("session", "scheduled start", "suggested start", "true start", "error", "conf."):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.session, r.scheduled, r.suggested, r.true, f"{r.error_s:+.2f} s", f"{r.confidence}"
        )
    console.print(table)


async def run_cut_demo(cache: Path, console: Console) -> list[CutRow]:
    """Render the demo day once (kept under ``cache``), suggest, print the table."""
    day = plan_day(DEMO_DAY)
    directory = cache / f"cut-day-{DEMO_DAY.seed}"
    if not (directory / TIMELINE).is_file():
        console.print("  rendering a simulated programme with known talk boundaries…")
        await asyncio.to_thread(render_day, day, directory)
    rows = await asyncio.to_thread(cut_rows, day, directory)
    print_cut_table(rows, console)
    return rows
