"""The running delay moves the service's plan: a start marked 7 minutes late shifts the later
sessions' predicted windows and the processing planned at their predicted end + grace."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from streamer.config import Settings
from streamer.detect import Edge
from streamer.pipeline.control import MarkRequest
from streamer.pipeline.marks import MarkStore
from streamer.pipeline.orchestrator import Orchestrator
from streamer.pipeline.store import Store
from streamer.timeutil import iso, now

GRACE_S = 120


def _seoul_day(
    tmp_path: Path, broadcast_min: int, sessions: list[tuple[str, int, int]]
) -> tuple[datetime, Settings]:
    """A day from tomorrow 10:00 in Seoul: it must not cross local midnight (a running delay
    shifts the sessions of the same local day only), and the jobs must lie ahead. Sessions
    are (id, start, end) in minutes from 10:00."""
    seoul = ZoneInfo("Asia/Seoul")
    t0 = (now().astimezone(seoul) + timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )

    def t(minutes: int) -> str:
        return iso(t0 + timedelta(minutes=minutes))

    rows = "".join(
        f'  - {{id: {sid}, broadcast: main, start: "{t(a)}", end: "{t(b)}", title: {sid}}}\n'
        for sid, a, b in sessions
    )
    sched = tmp_path / "schedules"
    sched.mkdir()
    (sched / "day.yaml").write_text(
        f"""
event: {{id: fest, title: Fest, timezone: Asia/Seoul}}
broadcasts:
  - {{id: main, url: "https://example.org/m.m3u8", start: "{t(0)}", end: "{t(broadcast_min)}"}}
sessions:
{rows}""",
        "utf-8",
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path / "data", schedules=sched, grace_s=GRACE_S
    )
    return t0, settings


def test_a_mark_seven_minutes_late_moves_later_processing(tmp_path: Path) -> None:
    t0, settings = _seoul_day(
        tmp_path, 240, [("opening", 0, 30), ("keynote", 30, 90), ("panel", 100, 160)]
    )
    late = timedelta(minutes=7)
    grace = timedelta(seconds=GRACE_S)

    async def go() -> tuple[dict[str, datetime], dict[str, datetime], dict[str, Any]]:
        orch = Orchestrator(settings)
        await orch.start()
        try:
            assert orch._scheduler is not None
            before = {j.id: j.next_run_time for j in orch._scheduler.get_jobs()}
            at = t0 + timedelta(minutes=30) + late
            orch.mark("keynote", MarkRequest(edge="start", at=at), "test")
            # the re-planning is queued on this loop: wait for it (bounded against a hang,
            # not timed), however slowly a loaded machine runs the callbacks
            moved = ("process:fest.keynote", "process:fest.panel")
            for _ in range(2000):
                await asyncio.sleep(0.005)
                after = {j.id: j.next_run_time for j in orch._scheduler.get_jobs()}
                if all(after.get(j) != before.get(j) for j in moved):
                    break
            status = {s["id"]: s for s in orch.status()["sessions"]}
            return before, after, status
        finally:
            await orch.shutdown()

    before, after, status = asyncio.run(go())
    sched_end = {"opening": 30, "keynote": 90, "panel": 160}
    for sid, minutes in sched_end.items():
        end = t0 + timedelta(minutes=minutes)
        assert before[f"process:fest.{sid}"] == end + grace
        shift = timedelta(0) if sid == "opening" else late
        assert after[f"process:fest.{sid}"] == end + shift + grace, sid
    assert status["panel"]["delay_text"] == "running ~7 min late"
    predicted = datetime.fromisoformat(status["panel"]["predicted_end"])
    assert predicted == t0 + timedelta(minutes=160) + late


def test_a_mark_from_the_cli_moves_the_running_service_on_its_next_tick(tmp_path: Path) -> None:
    """``streamer mark`` writes the state DB from another process: the service's tick sees the
    new mark (a cheap look at the newest mark id) and plans the later sessions again. The
    tick is called by the test (no ticker, no waiting)."""
    t0, settings = _seoul_day(tmp_path, 120, [("opening", 0, 30), ("keynote", 30, 90)])
    late = timedelta(minutes=7)
    grace = timedelta(seconds=GRACE_S)
    job = "process:fest.keynote"

    async def go() -> tuple[datetime, datetime, datetime]:
        # a tick far apart: the ticker's own first tick runs at start, then never in this test
        orch = Orchestrator(settings, tick_s=3600)
        await orch.start()
        try:
            assert orch._scheduler is not None
            orch._tick()
            before = orch._scheduler.get_job(job).next_run_time
            # what `streamer mark keynote start --at ...` does: its own connection to the DB
            cli = Store(settings.db_url)
            MarkStore(cli).add("keynote", Edge.START, t0 + timedelta(minutes=30) + late,
                               by="kim", source="cli")  # fmt: skip
            cli.close()
            unseen = orch._scheduler.get_job(job).next_run_time  # nothing told the service
            orch._tick()
            return before, unseen, orch._scheduler.get_job(job).next_run_time
        finally:
            await orch.shutdown()

    before, unseen, after = asyncio.run(go())
    end = t0 + timedelta(minutes=90)
    assert before == unseen == end + grace
    assert after == end + late + grace
