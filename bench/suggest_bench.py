"""Boundary detection on simulated 3-hour days: accuracy against the truth, and its cost.

    .venv/bin/python bench/suggest_bench.py [--days 2] [--fps 10]

Each day is :func:`streamer.simulate.program.plan_day` with the real-day defaults: 8 talks of
20–25 minutes, breaks of 20–90 s (holding slate with near-silence, slate with applause, or
plain silence, drawn per break), each talk 0–12 minutes late against a schedule on the minute.
It is rendered **at low resolution** (160×90, ``--fps``, 8 kHz mono AAC, 2 s segments) into
bench/.cache/ once per seed, so rendering is not measured.

Per day, ``suggest_sessions`` with the defaults (±15 min radius) over all 8 sessions:

* accuracy: the share of the 16 boundaries suggested within ±2 s and ±10 s of the truth; the
  baseline is the schedule itself (what the service cuts today);
* cost: wall and ffmpeg CPU time of the analysis per session, against the session's duration
  (goal ≤ 2%); the baseline is the same ffmpeg analysis run over the whole recording instead of
  the windows around the boundaries.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.capture.timeline import Timeline  # noqa: E402
from streamer.detect import Settings, suggest_sessions  # noqa: E402
from streamer.detect.signals import analyse  # noqa: E402
from streamer.simulate.program import BreakKind, Day, DaySpec, plan_day, render_day  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
KINDS = (BreakKind.SLATE_QUIET, BreakKind.SLATE_APPLAUSE, BreakKind.SILENCE)


def children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def recording(day: Day) -> Path:
    spec = day.spec
    directory = CACHE / f"suggest-day-s{spec.seed}-f{spec.fps}"
    if not (directory / "timeline.jsonl").exists():
        print(f"rendering seed {spec.seed} ({day.duration_s / 3600:.2f} h) ...", flush=True)
        started = time.monotonic()
        render_day(day, directory)
        print(f"  rendered in {time.monotonic() - started:.0f} s", flush=True)
    return directory


def one_day(seed: int, fps: int) -> dict[str, float]:
    day = plan_day(replace(DaySpec(kinds=KINDS, seed=seed), fps=fps))
    timeline = Timeline.load(recording(day))
    program = day.program()
    cpu0, wall0 = children_cpu(), time.monotonic()
    out = suggest_sessions(timeline, program, program.sessions, settings=Settings())
    wall, cpu = time.monotonic() - wall0, children_cpu() - cpu0
    errors, sched = [], []
    for s in out:
        talk = day.talk(s.session.id)
        errors += [(s.start - talk.true_start), (s.end - talk.true_end)]
        sched += [(s.session.start - talk.true_start), (s.session.end - talk.true_end)]
        print(
            f"  {s.session.id}: late {talk.late_s / 60:4.1f} min, break before "
            f"{talk.break_before.value:14s} start {_s(s.start - talk.true_start):>7s} "
            f"end {_s(s.end - talk.true_end):>7s} confidence {s.confidence:.2f}"
        )
    assert timeline.start is not None and timeline.end is not None
    cpu1, wall1 = children_cpu(), time.monotonic()
    analyse(timeline, timeline.start, timeline.end, timeout_s=3600)
    full_wall, full_cpu = time.monotonic() - wall1, children_cpu() - cpu1
    session_s = sum(s.duration.total_seconds() for s in program.sessions)
    n = len(errors)
    return {
        "boundaries": n,
        "within2": sum(abs(e.total_seconds()) <= 2 for e in errors) / n,
        "within10": sum(abs(e.total_seconds()) <= 10 for e in errors) / n,
        "sched2": sum(abs(e.total_seconds()) <= 2 for e in sched) / n,
        "sched10": sum(abs(e.total_seconds()) <= 10 for e in sched) / n,
        "wall_share": wall / session_s,
        "cpu_share": cpu / session_s,
        "full_wall_share": full_wall / session_s,
        "full_cpu_share": full_cpu / session_s,
        "wall_per_session": wall / len(out),
        "session_min": session_s / len(out) / 60,
    }


def _s(delta: timedelta) -> str:
    return f"{delta.total_seconds():+.1f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=2, help="simulated days (seeds 1..N)")
    parser.add_argument("--fps", type=int, default=10, help="frame rate of the rendered day")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(1, args.days + 1):
        print(f"day {seed}:", flush=True)
        rows.append(one_day(seed, args.fps))
    total = sum(r["boundaries"] for r in rows)

    def mean(key: str) -> float:
        return sum(r[key] * r["boundaries"] for r in rows) / total

    print(f"\n{len(rows)} day(s), {total:.0f} boundaries, all with a break")
    print("| | within ±2 s | within ±10 s |")
    print("|---|---|---|")
    print(f"| suggest | {mean('within2'):.1%} | {mean('within10'):.1%} |")
    print(f"| schedule (baseline) | {mean('sched2'):.1%} | {mean('sched10'):.1%} |")
    print("\n| analysis cost / session duration | wall | ffmpeg CPU |")
    print("|---|---|---|")
    print(f"| windows ±15 min (suggest) | {mean('wall_share'):.2%} | {mean('cpu_share'):.2%} |")
    print(
        f"| whole recording (baseline) | {mean('full_wall_share'):.2%} "
        f"| {mean('full_cpu_share'):.2%} |"
    )
    print(
        f"| ratio | {mean('wall_share') / mean('full_wall_share'):.2f}× "
        f"| {mean('cpu_share') / mean('full_cpu_share'):.2f}× |"
    )
    print(
        f"\nper session: {mean('wall_per_session'):.1f} s of analysis for "
        f"{mean('session_min'):.1f} min of session"
    )


if __name__ == "__main__":
    main()
