"""Import and check a big generated schedule: ``schedule import`` + ``schedule check``.

    .venv/bin/python bench/schedule_import.py [--talks 1000 20000] [--runs 3]

Per size, a pretalx/frab schedule.json (the c3voc schema) is generated into bench/.cache/:
``talks`` talks in rooms of 100 (20,000: 50 rooms x 4 days = 200 broadcasts; 1,000: 10 rooms
x 2 days), each 10 minutes with abstracts, two speakers and offsets in Europe/Berlin; the last
talks of a day run past midnight. Each measure runs in a fresh process (for its peak memory)
and times the work after the imports:

* import: the CLI's ``schedule import SOURCE -o OUT`` (read, build, check, write, re-check);
* check: the CLI's ``schedule check -q OUT``;
* baseline: ``json.load`` of the source plus PyYAML's libyaml ``CSafeLoader`` load of the
  YAML written, i.e. only reading both files, with no checking at all.

Prints medians, peak RSS, and the ratio (import + check) / baseline. Goals (issue 12):
1,000 talks imported and checked in <= 1 s; 20,000 in <= 10 s and <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
BERLIN = ZoneInfo("Europe/Berlin")


def generate(talks: int, path: Path) -> None:
    rooms, days = (50, 4) if talks >= 20000 else (10, 2)
    per = max(1, talks // (rooms * days))
    out_days = []
    n = 0
    for d in range(days):
        date = datetime(2025, 12, 27 + d, 8, 0, tzinfo=BERLIN)
        room_map: dict[str, list[dict[str, object]]] = {}
        for r in range(rooms):
            items = []
            for i in range(per):
                start = date + timedelta(minutes=10 * i)
                n += 1
                items.append(
                    {
                        "guid": f"00000000-0000-4000-8000-{n:012d}",
                        "id": n,
                        "date": start.isoformat(),
                        "start": f"{start:%H:%M}",
                        "duration": "00:10",
                        "room": f"Room {r + 1}",
                        "slug": f"bench-{n}-talk-number-{n}",
                        "title": f"Talk number {n}: on schedules, clocks and days",
                        "subtitle": "a generated talk",
                        "track": f"Track {r % 7}",
                        "language": "en",
                        "abstract": "An abstract of a generated talk. " * 6,
                        "persons": [
                            {"id": n * 2, "public_name": f"Speaker {n}"},
                            {"id": n * 2 + 1, "public_name": f"Co-speaker {n}"},
                        ],
                        "do_not_record": False,
                    }
                )
            room_map[f"Room {r + 1}"] = items
        out_days.append({"index": d + 1, "date": f"{date:%Y-%m-%d}", "rooms": room_map})
    data = {
        "schedule": {
            "version": "bench",
            "conference": {
                "acronym": f"bench{talks}",
                "title": f"Bench conference ({talks} talks)",
                "time_zone_name": "Europe/Berlin",
                "days": out_days,
            },
        }
    }
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def child(mode: str, source: Path, out: Path) -> None:
    """One measure in this (fresh) process; prints {"s": seconds, "rss_mb": peak}."""
    from typer.testing import CliRunner

    from streamer.cli import app

    runner = CliRunner()
    cpu0 = time.process_time()
    if mode == "baseline":
        import yaml

        t0 = time.perf_counter()
        json.loads(source.read_text(encoding="utf-8"))
        yaml.load(out.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        seconds = time.perf_counter() - t0
    else:
        if mode == "import":
            out.unlink(missing_ok=True)
            args = ["schedule", "import", str(source), "-o", str(out)]
        else:
            args = ["schedule", "check", "-q", str(out)]
        t0 = time.perf_counter()
        result = runner.invoke(app, args)
        seconds = time.perf_counter() - t0
        if result.exit_code != 0:
            raise SystemExit(f"{mode} failed ({result.exit_code}): {result.output[-2000:]}")
    cpu = time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s": seconds, "cpu": cpu, "rss_mb": rss}))


def measure(mode: str, source: Path, out: Path, code: Path | None = None) -> dict[str, float]:
    """``code``: a checkout whose ``streamer`` package is measured instead (``--before``)."""
    env = dict(os.environ, PYTHONPATH=str(code)) if code else None
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(source), str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=code or ROOT,
        env=env,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:] or proc.stdout[-3000:])
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--talks", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SOURCE", "OUT"))
    parser.add_argument(
        "--before",
        type=Path,
        help="also measure import and check with the streamer package of this checkout"
        " (e.g. `git archive <rev> | tar -x -C DIR`), and print the before/after ratio",
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    for talks in args.talks:
        source = CACHE / f"schedule-{talks}.json"
        out = CACHE / f"schedule-{talks}.yaml"
        if not source.exists():
            generate(talks, source)
        runs: dict[str, list[dict[str, float]]] = {"import": [], "check": [], "baseline": []}
        before: dict[str, list[dict[str, float]]] = {"import": [], "check": []}
        old_out = CACHE / f"schedule-{talks}-before.yaml"
        for _ in range(args.runs):
            for mode in runs:  # import first: it writes what the others read
                runs[mode].append(measure(mode, source, out))
            for mode in before if args.before else ():
                before[mode].append(measure(mode, source, old_out, args.before))
        rss = {m: max(r["rss_mb"] for r in rs) for m, rs in runs.items()}
        for unit in ("s", "cpu"):
            med = {m: statistics.median(r[unit] for r in rs) for m, rs in runs.items()}
            ours = med["import"] + med["check"]
            print(
                f"{talks} talks, {'wall' if unit == 's' else 'CPU'} s: import {med['import']:.2f}"
                f" ({rss['import']:.0f} MB peak), check {med['check']:.2f}"
                f" ({rss['check']:.0f} MB), import+check {ours:.2f}; baseline json+libyaml load"
                f" {med['baseline']:.2f} ({rss['baseline']:.0f} MB); ratio"
                f" {ours / med['baseline']:.1f}x  [median of {args.runs}]"
            )
            if args.before:
                old = {m: statistics.median(r[unit] for r in rs) for m, rs in before.items()}
                old_rss = max(r["rss_mb"] for rs in before.values() for r in rs)
                print(
                    f"  before ({args.before}): import {old['import']:.2f}, check"
                    f" {old['check']:.2f} ({old_rss:.0f} MB peak); before/after"
                    f" {(old['import'] + old['check']) / ours:.1f}x"
                )


if __name__ == "__main__":
    main()
