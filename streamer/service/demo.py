"""``streamer demo``: the forum's first sessions on a simulated YouTube broadcast, through the
real pipeline (capture → heal → split → publish to local storage), with the API and viewer
served.

The broadcast is YouTube-shaped (``simulate/youtube_media.py``): a short HLS window and a DVR
of fMP4 fragments. During the second session the recorder's network drops for longer than the
window, so the live edge alone would leave a hole; the heal fills it from the DVR, and the
table shows full coverage with the healed (dvr) seconds per session. Then a second table: on a
simulated programme with known talk boundaries, each talk's scheduled, suggested and true
start (``service/cutdemo.py``)."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from streamer.capture.timeline import Timeline
from streamer.config import Settings
from streamer.errors import ConfigError, StorageError, StreamerError
from streamer.pipeline.orchestrator import Orchestrator
from streamer.pipeline.states import BROADCAST_OVER, SESSION_DONE, SessionState
from streamer.publish import Storage, open_storage
from streamer.publish.catalog import read_record
from streamer.schedule.dump import dump_program
from streamer.schedule.load import load_program
from streamer.schedule.model import Program, title_text
from streamer.service.cutdemo import run_cut_demo
from streamer.service.serve import serve
from streamer.simulate.youtube_info import SimulatedResolver
from streamer.simulate.youtube_media import YouTubeMedia, prepare
from streamer.timeutil import now

FORUM_FILE = "sejong-smartcity-forum-2021.yaml"
LEAD_S = 6.0  # the capture sees the stream before the first session starts
# YouTube's live HLS lists the last 30 s; the demo's compressed sessions scale it down, and
# the outage with it: longer than the window, so only the DVR can fill it.
WINDOW_S = 4.0
OUTAGE_SHARE = 0.6  # of a session


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
            "stall_timeout_s": 30.0,
            "watch_poll_s": 2.0,
            "port": port,
            # the simulated broadcast is on 127.0.0.1: opt in to private sources, explicitly
            "allow_private_sources": True,
        }
    )
    # encoded once, kept beside the scratch dir for the next run
    content = await asyncio.to_thread(
        prepare,
        settings.data_dir / "demo-media",
        duration_s=LEAD_S + sessions * session_s + 60,
        segment_s=1.0,
        width=640,
        height=360,
        fps=25,
    )
    media = YouTubeMedia(content, window_s=WINDOW_S).start()
    try:
        url = f"https://www.youtube.com/watch?v={media.video_id}"
        program = compress(forum, url, now(), sessions, session_s)
        (root / "schedules" / FORUM_FILE).write_text(dump_program(program), "utf-8")
        orch = Orchestrator(demo_settings, tick_s=1.0, resolver=SimulatedResolver(media))  # type: ignore[arg-type]
        published_at: dict[str, datetime] = {}

        def on_event(kind: str, payload: dict[str, object]) -> None:
            if kind == "session.published":
                published_at[str(payload["session_id"])] = now()

        orch.listeners.append(on_event)
        async with serve(demo_settings, orch, port=port) as base:
            _banner(console, program, media.master_url(), base, demo_settings.data_dir)
            await _follow(orch, program, media, session_s, console)
            result = _summary(orch, program, published_at, demo_settings, console)
            try:  # scheduled vs suggested vs true start, on a programme with known boundaries
                await run_cut_demo(settings.data_dir / "demo-media", console)
            except StreamerError as exc:
                console.print(f"  cut detection demo skipped: {exc}")
            if not once and result.ok:
                console.print("Serving until Ctrl-C.")
                await asyncio.Event().wait()
            return result
    finally:
        media.close()


async def _follow(
    orch: Orchestrator, program: Program, media: YouTubeMedia, session_s: float, console: Console
) -> None:
    """Print each session's moves until all are published (or the deadline): the outage in
    the second session, the broadcast's end."""
    end = program.broadcasts[0].end
    deadline = end + timedelta(seconds=120)
    middle = program.sessions[min(1, len(program.sessions) - 1)]
    outage_at = middle.start + timedelta(seconds=1)
    outage_s = max(WINDOW_S + 2, OUTAGE_SHARE * session_s)
    cut, stopped = False, False
    seen: dict[str, str] = {}
    healed_at: datetime | None = None
    while True:
        moment = now()
        clock = f"{moment.astimezone(program.event.tz):%H:%M:%S}"
        if not cut and moment >= outage_at:
            media.outage_until = media.clock() + outage_s
            console.print(
                f"  {clock} recorder offline for {outage_s:.0f} s (the HLS window is "
                f"{WINDOW_S:.0f} s): the heal fills it from the DVR",
                highlight=False,
            )
            cut = True
        if not stopped and moment >= end + timedelta(seconds=2):
            media.end()  # the broadcast ends: ENDLIST, then post_live
            stopped = True
        views = orch.store.sessions(program.event.id)
        for v in views:
            if seen.get(v.id) != v.state:
                why = f" ({v.reason})" if v.reason else ""
                console.print(f"  {clock} {v.id} → {v.state}{why}", highlight=False)
                seen[v.id] = v.state
        published = all(v.state == SessionState.PUBLISHED for v in views)
        # an incomplete session waits for the heal's re-cut until the broadcast is over
        over = orch.store.broadcast(program.event.id, program.broadcasts[0].id).state
        settled = all(v.state in SESSION_DONE for v in views) and over in BROADCAST_OVER
        if settled and any(v.state == SessionState.INCOMPLETE for v in views):
            # an incomplete VOD may still be healed and re-cut: wait for the final heal
            if healed_at is None and _heal_final(orch, program):
                healed_at = moment
            settled = healed_at is not None and moment > healed_at + timedelta(seconds=15)
        failed_for_good = [
            v for v in views if v.state == SessionState.FAILED and v.next_try_at is None
        ]
        if (
            published
            or failed_for_good
            or moment > deadline
            or (settled and moment > end + timedelta(seconds=30))
        ):
            return
        await asyncio.sleep(1.0)


def _heal_final(orch: Orchestrator, program: Program) -> bool:
    """Whether the heal of the demo's recording has declared itself final (nothing more
    will come from the source), after which no re-cut is still on its way."""
    rec = orch.store.recording(program.event.id, program.broadcasts[0].id)
    if rec is None or not rec.dir:
        return True
    heal = Timeline.load(Path(rec.dir)).meta.get("heal")
    return isinstance(heal, dict) and heal.get("final") is True


def _banner(console: Console, program: Program, sim_url: str, base: str, files: Path) -> None:
    console.print(f"[bold]streamer demo[/bold]: {title_text(program.event.title)}")
    console.print(f"  simulated broadcast  {sim_url} (YouTube-shaped: HLS window + DVR)")
    console.print(f"  viewer               {base}/")
    console.print(f"  VOD index (JSON)     {base}/api/v1/vods")
    console.print(f"  program with states  {base}/api/v1/events/{program.event.id}/sessions")
    console.print(f"  files                {files}")


def _summary(
    orch: Orchestrator,
    program: Program,
    published_at: dict[str, datetime],
    settings: Settings,
    console: Console,
) -> DemoResult:
    table = Table(title="demo sessions")
    columns = ("session", "state", "coverage", "healed (dvr)", "end+grace → in index.json")
    for col in (*columns, "reason"):
        table.add_column(col)
    ok = True
    lines = []
    storage = open_storage(settings)
    for v in orch.store.sessions(program.event.id):
        ready = v.end + timedelta(seconds=settings.grace_s)
        latency = (
            f"{(published_at[v.id] - ready).total_seconds():.1f} s" if v.id in published_at else "-"
        )
        cov = f"{v.coverage:.0%}" if v.coverage is not None else "-"
        table.add_row(
            v.id, v.state, cov, _healed(storage, v.event_id, v.id), latency, v.reason or ""
        )
        if v.state != SessionState.PUBLISHED:
            ok = False
            lines.append(f"{v.id}: {v.state}: {v.reason or 'not published'}")
    console.print(table)
    return DemoResult(ok, lines)


def _healed(storage: Storage, event_id: str, session_id: str) -> str:
    """The published record's healed seconds (``provenance``): from the DVR, and from the
    archive when any."""
    try:
        record = read_record(storage, event_id, session_id)
    except StorageError:
        return "?"
    if record is None:
        return "-"
    provenance = (record.model_extra or {}).get("provenance")
    if not isinstance(provenance, dict):
        return "-"
    text = f"{float(provenance.get('dvr', 0.0)):.1f} s"
    archive = float(provenance.get("archive", 0.0))
    return text + (f" + {archive:.1f} s archive" if archive else "")
