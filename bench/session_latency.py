"""Time from a session's end (+grace) to its VOD in index.json, for a 40-minute 720p session.

    .venv/bin/python bench/session_latency.py [--runs 3] [--minutes 40]

Uses the 1-hour 720p recording that bench/split_bench.py caches in bench/.cache/. Per run:
* ours: the service's two stages as the orchestrator runs them once a session is due:
  ``split_session`` (frame-exact cut, probe, thumbnail, sha256, record) then
  ``Publisher.publish_session`` to the local store (copy, verify, record, index.json, feed);
* baseline: bare ``ffmpeg -ss -t -c copy +faststart`` of the same window, then ``cp`` of the
  result into a directory (what a person would do by hand, without any of the checks).

Prints medians and the ratio ours/baseline; the goal is an absolute one: ≤ 30 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from split_bench import T0, make_recording  # noqa: E402

from streamer.capture.timeline import Timeline  # noqa: E402
from streamer.publish.catalog import Publisher, read_index  # noqa: E402
from streamer.publish.local import LocalStorage  # noqa: E402
from streamer.schedule.model import Broadcast, Event, Program, Session  # noqa: E402
from streamer.split import split_session  # noqa: E402

START_S = 300.37  # mid-GOP, as a real session start would be


def program(minutes: float) -> Program:
    return Program(
        event=Event(id="bench", title={"en": "Bench", "ko": "벤치"}, timezone="Asia/Seoul"),
        broadcasts=[Broadcast(id="day1", start=T0, end=T0 + timedelta(hours=1))],
        sessions=[
            Session(
                id="talk",
                broadcast="day1",
                start=T0 + timedelta(seconds=START_S),
                end=T0 + timedelta(seconds=START_S + minutes * 60),
                title={"en": "A 40-minute talk", "ko": "40분 발표"},
            )
        ],
    )


def ours(rec: Path, prog: Program, work: Path) -> float:
    started = time.perf_counter()
    split_session(rec, prog, "talk", work / "vods", force=True)
    Publisher(LocalStorage(work / "public")).publish_session(work / "vods", "bench", "talk")
    took = time.perf_counter() - started
    index = read_index(LocalStorage(work / "public"), "bench")
    assert index is not None and index["items"][0]["session_id"] == "talk"
    return took


def baseline(rec: Path, prog: Program, work: Path) -> float:
    tl = Timeline.load(rec)
    session = prog.sessions[0]
    pieces = tl.pieces(session.start, session.end)
    listing = work / "list.txt"
    listing.write_text("".join(f"file '{f}'\n" for f in pieces[0].files))
    out = work / "copy.mp4"
    started = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0",
         "-i", str(listing), "-ss", f"{pieces[0].offset_in:.3f}",
         "-t", f"{pieces[0].duration_s:.3f}", "-c", "copy", "-movflags", "+faststart",
         str(out)],
        check=True,
    )  # fmt: skip
    (work / "public").mkdir(exist_ok=True)
    shutil.copyfile(out, work / "public" / "talk.mp4")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=40.0)
    args = parser.parse_args()
    rec = make_recording()
    prog = program(args.minutes)
    ours_t: list[float] = []
    base_t: list[float] = []
    for run in range(args.runs):
        for name, fn, into in (("ours", ours, ours_t), ("baseline", baseline, base_t)):
            work = Path(tempfile.mkdtemp(prefix=f"lat-{name}-"))
            try:
                into.append(fn(rec, prog, work))
            finally:
                shutil.rmtree(work)
            print(f"run {run + 1} {name}: {into[-1]:.2f} s", flush=True)
    o, b = statistics.median(ours_t), statistics.median(base_t)
    print(f"\n{args.minutes:.0f}-minute 720p session, median of {args.runs}:")
    print(f"  ours (split exact + publish local, all checks): {o:6.2f} s")
    print(f"  baseline (ffmpeg -c copy + cp):                  {b:6.2f} s")
    verdict = "met" if o <= 30 else "NOT met"
    print(f"  ratio ours/baseline: {o / b:.2f}x   goal ours <= 30 s: {verdict}")


if __name__ == "__main__":
    main()
