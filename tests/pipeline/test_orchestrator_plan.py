"""Planning without any media: jobs follow the schedule, reloads re-plan, and a restart finds
the jobs again in the persistent job store."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from streamer.config import Settings
from streamer.pipeline.orchestrator import Orchestrator
from streamer.timeutil import iso, now


def schedule(start_in_h: float, end_in_h: float, extra: str = "") -> str:
    t0 = now()

    def t(h: float) -> str:
        return iso(t0 + timedelta(hours=h))

    return f"""
event: {{id: planfest, title: "Plan Fest", timezone: Europe/London}}
broadcasts:
  - {{id: main, url: "https://www.youtube.com/watch?v=dQw4w9WgXcQ", start: "{t(1)}", end: "{t(9)}"}}
sessions:
  - {{id: talk, broadcast: main, start: "{t(start_in_h)}", end: "{t(end_in_h)}", title: Talk}}
{extra}"""


def jobs(orch: Orchestrator) -> dict[str, str]:
    assert orch._scheduler is not None
    return {j.id: iso(j.next_run_time) for j in orch._scheduler.get_jobs()}


def test_jobs_follow_the_schedule_and_survive_restart(tmp_path: Path) -> None:
    sched = tmp_path / "schedules"
    sched.mkdir()
    (sched / "plan.yaml").write_text(schedule(2, 3), "utf-8")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        schedules=sched,
        grace_s=120,
        watch_lead_s=900,
    )

    async def first() -> dict[str, str]:
        orch = Orchestrator(settings)
        await orch.start()
        try:
            planned = jobs(orch)
            session = orch.store.session("planfest", "talk")
            assert planned["process:planfest.talk"] == iso(session.end + timedelta(seconds=120))
            b = orch.store.broadcast("planfest", "main")
            assert planned["watch:planfest.main"] == iso(b.start - timedelta(seconds=900))
            # the media team moves the talk one hour later and adds another one
            late_start, late_end = now() + timedelta(hours=5), now() + timedelta(hours=6)
            extra = (
                f'  - {{id: late, broadcast: main, start: "{iso(late_start)}", '
                f'end: "{iso(late_end)}", title: Late}}'
            )
            (sched / "plan.yaml").write_text(schedule(3, 4, extra), "utf-8")
            diff = await asyncio.to_thread(orch.reload)
            assert diff["changed"] == ["talk"] and diff["added"] == ["late"], diff
            moved = orch.store.session("planfest", "talk")
            return {**jobs(orch), "talk_end": iso(moved.end)}
        finally:
            await orch.shutdown()

    async def second() -> dict[str, str]:
        orch = Orchestrator(settings)
        await orch.start()
        try:
            return jobs(orch)
        finally:
            await orch.shutdown()

    after_reload = asyncio.run(first())
    talk_end = after_reload.pop("talk_end")
    assert set(after_reload) == {
        "watch:planfest.main",
        "process:planfest.talk",
        "process:planfest.late",
    }
    assert after_reload["process:planfest.talk"] > talk_end  # end + grace, re-planned
    # a new process finds the same plan (job store + re-plan agree)
    assert asyncio.run(second()) == after_reload


def test_bad_reload_keeps_the_running_plan(tmp_path: Path) -> None:
    sched = tmp_path / "schedules"
    sched.mkdir()
    (sched / "plan.yaml").write_text(schedule(2, 3), "utf-8")
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", schedules=sched)  # type: ignore[call-arg]

    async def go() -> dict[str, object]:
        orch = Orchestrator(settings)
        await orch.start()
        try:
            before = jobs(orch)
            (sched / "plan.yaml").write_text("event: {id: planfest\n", "utf-8")
            result = await asyncio.to_thread(orch.reload)
            assert jobs(orch) == before
            assert orch.store.session("planfest", "talk").state == "planned"
            return result
        finally:
            await orch.shutdown()

    result = asyncio.run(go())
    errors = result["errors"]
    assert isinstance(errors, list) and errors and "plan.yaml:" in errors[0]


def test_a_session_caught_mid_split_by_a_crash_is_planned_again(tmp_path: Path) -> None:
    sched = tmp_path / "schedules"
    sched.mkdir()
    (sched / "plan.yaml").write_text(schedule(2, 3), "utf-8")
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", schedules=sched)  # type: ignore[call-arg]

    async def crash_mid_split() -> None:
        orch = Orchestrator(settings)
        await orch.start()
        orch.store.set_session_state("planfest", "talk", "splitting")
        assert orch._scheduler is not None
        orch._scheduler.shutdown(wait=False)  # no clean shutdown: as after SIGKILL

    async def restart() -> tuple[str, str | None, dict[str, str]]:
        orch = Orchestrator(settings)
        await orch.start()
        try:
            s = orch.store.session("planfest", "talk")
            return s.state, s.reason, jobs(orch)
        finally:
            await orch.shutdown()

    asyncio.run(crash_mid_split())
    state, reason, planned = asyncio.run(restart())
    assert state == "failed" and reason is not None and "interrupted while splitting" in reason
    assert "process:planfest.talk" in planned


def test_start_with_a_broken_schedule_keeps_the_last_good_program(tmp_path: Path) -> None:
    sched = tmp_path / "schedules"
    sched.mkdir()
    (sched / "plan.yaml").write_text(schedule(2, 3), "utf-8")
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", schedules=sched)  # type: ignore[call-arg]

    async def run_once() -> tuple[list[str], list[str], dict[str, str]]:
        orch = Orchestrator(settings)
        await orch.start()
        try:
            sessions = [s["id"] for s in orch.sessions("planfest")]
            return sessions, orch.status()["schedule_errors"], jobs(orch)
        finally:
            await orch.shutdown()

    first = asyncio.run(run_once())
    (sched / "plan.yaml").write_text("event: {id: planfest\n", "utf-8")  # a typo, then a restart
    sessions, errors, planned = asyncio.run(run_once())
    assert sessions == first[0] == ["talk"]
    assert errors and "plan.yaml:" in errors[0]
    assert planned == first[2]


def test_a_broadcast_left_live_past_its_window_is_closed_at_start(tmp_path: Path) -> None:
    sched = tmp_path / "schedules"
    sched.mkdir()
    t0 = now() - timedelta(hours=10)
    t1 = t0 + timedelta(hours=1)
    (sched / "old.yaml").write_text(
        f"""
event: {{id: oldfest, title: Old, timezone: UTC}}
broadcasts:
  - {{id: a, url: "https://example.org/a.m3u8", start: "{iso(t0)}", end: "{iso(t1)}"}}
  - {{id: b, url: "https://example.org/b.m3u8", start: "{iso(t0)}", end: "{iso(t1)}"}}
sessions:
  - {{id: s, broadcast: a, start: "{iso(t0)}", end: "{iso(t0 + timedelta(minutes=30))}", title: S}}
  - {{id: t, broadcast: b, start: "{iso(t0)}", end: "{iso(t0 + timedelta(minutes=30))}", title: T}}
""",
        "utf-8",
    )
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", schedules=sched, late_limit_s=60
    )  # type: ignore[call-arg]
    from streamer.pipeline.store import Store

    store = Store(settings.db_url)
    from streamer.schedule.load import load_program

    store.sync_program(load_program(sched / "old.yaml"))
    store.set_broadcast_state("oldfest", "a", "watching")
    store.set_broadcast_state("oldfest", "a", "live")  # then the machine died

    async def go() -> tuple[str, str]:
        orch = Orchestrator(settings)
        await orch.start()
        try:
            return orch.store.broadcast("oldfest", "a").state, orch.store.broadcast(
                "oldfest", "b"
            ).state
        finally:
            await orch.shutdown()

    assert asyncio.run(go()) == ("ended", "missing")


def test_a_restart_sweeps_split_work_dirs_and_retries_an_interrupted_stage_at_once(
    tmp_path: Path,
) -> None:
    sched = tmp_path / "schedules"
    sched.mkdir()
    (sched / "plan.yaml").write_text(schedule(2, 3), "utf-8")
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", schedules=sched)  # type: ignore[call-arg]
    event_dir = settings.vods_dir / "planfest"

    async def crash_mid_split() -> None:
        orch = Orchestrator(settings)
        await orch.start()
        orch.store.set_session_state("planfest", "talk", "splitting")
        # what a SIGKILLed split leaves: its work dir with a cut and its parts
        (event_dir / ".talk.k1ll3d_x.tmp" / "parts").mkdir(parents=True)
        (event_dir / ".talk.k1ll3d_x.tmp" / "vod.mp4").write_bytes(b"\0" * 1000)
        assert orch._scheduler is not None
        orch._scheduler.shutdown(wait=False)  # no clean shutdown: as after SIGKILL

    async def restart() -> tuple[str, object]:
        orch = Orchestrator(settings)
        await orch.start()
        try:
            s = orch.store.session("planfest", "talk")
            return s.state, s.next_try_at
        finally:
            await orch.shutdown()

    asyncio.run(crash_mid_split())
    (event_dir / "talk.mp4").write_bytes(b"kept")  # finished outputs are not work files
    before = now()
    state, due = asyncio.run(restart())
    after = now()
    assert sorted(p.name for p in event_dir.iterdir()) == ["talk.mp4"]
    # the retry is due at the restart itself, not after the 5 s backoff of a real failure
    assert state == "failed" and isinstance(due, type(before))
    assert before <= due <= after
