"""Soak: hours of simulated broadcasts through one ``streamer run``, compressed in time.

A program of ``--hours`` (6) of sessions, compressed ``--scale`` times (12: 30 min of wall
time), runs as back-to-back YouTube-shaped broadcasts (1 s segments, a DVR) on loopback
through the real service (``tests/crash/service.py``: ``streamer run`` reading the
simulator's info dicts). Every scaled minute (5 s of wall time at 12×) it samples the
service's RSS, open file descriptors, threads and the state DB's size (with its WAL).

The baseline, side by side in the same run: the figures of the first quarter of the run
(after the first broadcast went live), against which the last quarter's are given as a
ratio: flat memory and fds read as ~1.0×. At the end it counts missed segments (gaps in the
timelines: there is no outage in the soak) and the sessions published.

    .venv/bin/python bench/soak.py [--hours 6] [--scale 12] [--broadcasts 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sqlite3
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.capture.timeline import Timeline  # noqa: E402
from streamer.cli.simulate_youtube import write_info  # noqa: E402
from streamer.simulate.youtube_media import YouTubeMedia, prepare  # noqa: E402
from tests.crash.harness import Hooks, Service  # noqa: E402

LEAD_S = 4  # a broadcast's first session starts this long after it goes live


def proc_sample(pid: int) -> tuple[float, int, int]:
    """(RSS in MB, open fds, threads) of a process, from /proc."""
    rss_kb, threads = 0, 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    return rss_kb / 1024, fds, threads


def db_size_mb(data: Path) -> float:
    return sum(p.stat().st_size for p in data.glob("streamer.db*")) / 1e6


def schedule(t0: datetime, ids: list[str], bc_s: int, session_s: int, per: int) -> str:
    def at(s: float) -> str:
        return (t0 + timedelta(seconds=s)).isoformat(timespec="seconds")

    lines = [
        "event:",
        "  id: soak",
        "  title: Soak",
        "  timezone: UTC",
        "broadcasts:",
    ]
    sessions = []
    for i, video in enumerate(ids):
        start = i * bc_s
        lines += [
            f"  - id: b{i + 1}",
            f"    url: https://www.youtube.com/watch?v={video}",
            f"    start: {at(start)}",
            f"    end: {at(start + LEAD_S + per * session_s)}",
        ]
        for k in range(per):
            s0 = start + LEAD_S + k * session_s
            sessions += [
                f"  - id: b{i + 1}-s{k + 1:02d}",
                f"    broadcast: b{i + 1}",
                f"    start: {at(s0)}",
                f"    end: {at(s0 + session_s)}",
                f"    title: Session {i + 1}.{k + 1}",
            ]
    return "\n".join([*lines, "sessions:", *sessions]) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=6.0, help="simulated program length")
    ap.add_argument("--scale", type=float, default=12.0, help="time compression")
    ap.add_argument("--broadcasts", type=int, default=3)
    ap.add_argument("--session-min", type=float, default=10.0, help="simulated session length")
    args = ap.parse_args()
    wall_s = args.hours * 3600 / args.scale
    per_s = math.ceil(wall_s / args.broadcasts)  # wall seconds per broadcast
    session_s = max(5, round(args.session_min * 60 / args.scale))
    per = max(1, (per_s - LEAD_S - 4) // session_s)  # sessions per broadcast
    bc_s = LEAD_S + per * session_s + 4  # a short pause between broadcasts
    sample_s = 60 / args.scale
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = ROOT / "bench" / "out" / f"soak-{stamp}"
    (out / "schedules").mkdir(parents=True)
    (out / "info").mkdir()
    content = prepare(ROOT / "bench" / ".cache" / "soak-media", duration_s=bc_s + 30,
                      segment_s=1.0, width=320, height=180, fps=25)  # fmt: skip
    ids = [f"soakBcast{i:02d}" for i in range(args.broadcasts)]
    t0 = datetime.fromtimestamp(math.ceil(time.time()) + 20, UTC)  # the service starts first
    (out / "schedules" / "soak.yaml").write_text(schedule(t0, ids, bc_s, session_s, per))
    total = args.broadcasts * per
    print(
        f"soak: {args.hours:g} h of program at {args.scale:g}x = {args.broadcasts} broadcasts x "
        f"{per} sessions x {session_s} s ({total} sessions, {args.broadcasts * bc_s / 60:.1f} "
        f"min wall), sampling every {sample_s:g} s; {out}",
        flush=True,
    )
    medias = [
        YouTubeMedia(content, started_at=t0.timestamp() + i * bc_s, window_s=30.0, video_id=v)
        for i, v in enumerate(ids)
    ]
    for m in medias:
        m.start()
        write_info(m, out / "info" / f"{m.video_id}.json")
    stop = threading.Event()

    def director() -> None:
        ended: set[str] = set()
        while not stop.is_set():
            for i, m in enumerate(medias):
                end_at = t0.timestamp() + i * bc_s + LEAD_S + per * session_s + 1
                if m.video_id not in ended and time.time() >= end_at:
                    m.end()
                    ended.add(m.video_id)
                write_info(m, out / "info" / f"{m.video_id}.json")
            stop.wait(0.5)

    threading.Thread(target=director, daemon=True).start()
    hooks = Hooks()
    service = Service(
        out, out / "info", hooks, None,
        extra_env={"STREAMER_WATCH_LEAD_S": "10", "STREAMER_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    service.spawn()
    assert service.proc is not None
    pid = service.proc.pid
    samples: list[dict[str, float]] = []
    done_at = t0.timestamp() + args.broadcasts * bc_s + 120
    try:
        with open(out / "samples.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["t_s", "sim_min", "rss_mb", "fds", "threads", "db_mb", "published"])
            while time.time() < done_at:
                if service.proc.poll() is not None:
                    print("the service exited", file=sys.stderr)
                    return 1
                rss, fds, threads = proc_sample(pid)
                published = _published(out / "data")
                row = {
                    "t_s": round(time.time() - t0.timestamp(), 1),
                    "sim_min": round((time.time() - t0.timestamp()) * args.scale / 60, 1),
                    "rss_mb": round(rss, 1),
                    "fds": fds,
                    "threads": threads,
                    "db_mb": round(db_size_mb(out / "data"), 3),
                    "published": published,
                }
                samples.append(row)
                w.writerow(row.values())
                fh.flush()
                if published == total and time.time() > done_at - 110:
                    break
                time.sleep(sample_s)
    finally:
        service.stop()
        stop.set()
        for m in medias:
            m.close()
        hooks.close()
    return report(out, samples, total, ids, args)


def _published(data: Path) -> int:
    db = data / "streamer.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM sessions WHERE state = 'published'")
            return int(row.fetchone()[0])
    except sqlite3.Error:
        return 0


def report(
    out: Path, samples: list[dict[str, float]], total: int, ids: list[str], args: argparse.Namespace
) -> int:
    live = [s for s in samples if s["t_s"] >= 0]
    quarter = max(1, len(live) // 4)
    first, last = live[:quarter], live[-quarter:]
    lines = []
    for key in ("rss_mb", "fds", "threads", "db_mb"):
        a = statistics.median(s[key] for s in first)
        b = statistics.median(s[key] for s in last)
        peak = max(s[key] for s in live)
        ratio = b / a if a else float("nan")
        lines.append(f"{key:8} first quarter {a:9.2f}  last quarter {b:9.2f}  "
                     f"ratio {ratio:5.2f}x  max {peak:9.2f}")  # fmt: skip
    gaps, segments = 0, 0
    for i in range(len(ids)):
        rec = out / "data" / "recordings" / "soak" / f"b{i + 1}"
        if rec.is_dir():
            tl = Timeline.load(rec)
            gaps += len(tl.gaps())
            segments += len(tl.segments)
    published = _published(out / "data")
    lines.append(f"segments kept {segments}, timeline gaps (missed) {gaps}, "
                 f"sessions published {published}/{total}, samples {len(live)}")  # fmt: skip
    text = "\n".join(lines)
    print(text)
    (out / "summary.json").write_text(json.dumps({"args": vars(args), "summary": lines}, indent=2))
    return 0 if gaps == 0 and published == total else 1


if __name__ == "__main__":
    sys.exit(main())
