"""Two orchestrators in one process keep apart: each one's jobs run against its own state DB
(no module global decides which orchestrator a job reaches)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from streamer.config import Settings
from streamer.pipeline.orchestrator import Orchestrator
from streamer.pipeline.states import SessionState
from streamer.timeutil import iso, now


def _settings(root: Path, event_id: str) -> Settings:
    """An event whose broadcast and session are over: its process job is due at once."""
    sched = root / "schedules"
    sched.mkdir(parents=True)
    t0 = now() - timedelta(hours=3)

    def t(minutes: float) -> str:
        return iso(t0 + timedelta(minutes=minutes))

    (sched / f"{event_id}.yaml").write_text(
        f"""
event: {{id: {event_id}, title: "{event_id}", timezone: UTC}}
broadcasts:
  - {{id: main, url: "https://example.org/{event_id}.m3u8", start: "{t(0)}", end: "{t(60)}"}}
sessions:
  - {{id: talk, broadcast: main, start: "{t(10)}", end: "{t(40)}", title: Talk}}
""",
        "utf-8",
    )
    return Settings(_env_file=None, data_dir=root / "data", schedules=sched, late_limit_s=60)  # type: ignore[call-arg]


def test_two_orchestrators_in_one_process_run_their_own_jobs(tmp_path: Path) -> None:
    one = Orchestrator(_settings(tmp_path / "one", "fest-one"), tick_s=0.2)
    two = Orchestrator(_settings(tmp_path / "two", "fest-two"), tick_s=0.2)
    assert one.store is not two.store

    async def go() -> tuple[str, str, str, str]:
        await one.start()
        await two.start()  # started last: a process-wide "current" one would take every job
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while loop.time() < deadline:
                a = one.store.session("fest-one", "talk")
                b = two.store.session("fest-two", "talk")
                if a.state == SessionState.FAILED and b.state == SessionState.FAILED:
                    break
                await asyncio.sleep(0.05)
            return a.state, a.reason or "", b.state, b.reason or ""
        finally:
            await two.shutdown()
            await one.shutdown()

    a_state, a_reason, b_state, b_reason = asyncio.run(go())
    # each processed its own session: the broadcast was never recorded, so splitting failed
    assert (a_state, b_state) == ("failed", "failed"), (a_reason, b_reason)
    assert "was never recorded" in a_reason and "was never recorded" in b_reason
