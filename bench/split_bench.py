"""Cut a 1-hour 720p recording into 6 sessions: exact cut and whole split stage vs plain copy.

    .venv/bin/python bench/split_bench.py [--runs 3] [--sessions 6]
    .venv/bin/python bench/split_bench.py --profile     # wall and CPU per ffmpeg run
    .venv/bin/python bench/split_bench.py --extras      # also 2 jobs and a full re-encode

The recording (1280x720, 25 fps, AAC, 2 s HLS segments, keyframes every 2 s, B-frames) is
generated once into bench/.cache/: a 2-minute clip encoded with ``-preset ultrafast -bf 3``,
then looped by stream copy into an hour of segments, written as a streamer recording.

Per run, for the same six windows (both ends mid-GOP), session by session and in a rotating
order, so the three see the same load on a shared machine:
* copy (baseline): plain ``ffmpeg -ss S -i concatf:<segments> -t D -c copy -movflags
  +faststart`` (keyframe-late start, no re-encoding);
* exact: ``streamer.split.cutter.cut`` (frame-exact smart cut, what ships by default);
* stage: ``split_session`` with ``force`` (cut + probe + thumbnail + sha256 + JSON record).

Prints each run's figures and ratios, then the medians of the per-run ratios: exact/copy
(goal <= 1.3) and stage/copy (goal <= 1.5), in wall time and in CPU time (user + system of the
ffmpeg/ffprobe processes plus this process's own, i.e. the Python side; less sensitive to other
work on the machine than wall time). ``--extras`` adds two sessions at a time and a libx264
veryfast re-encode of ``--reencode-s`` seconds scaled to all windows (goal: exact >= 30x faster).
"""

from __future__ import annotations

import argparse
import functools
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.capture.timeline import Timeline, TimelineWriter  # noqa: E402
from streamer.schedule.model import Broadcast, Event, Program, Session  # noqa: E402
from streamer.split import plan_session, split_session  # noqa: E402
from streamer.split.cutter import cut  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
REC = CACHE / "split-rec-1h"
T0 = datetime(2026, 5, 1, 1, 0, 0, tzinfo=UTC)
HOUR_S = 3600
CLIP_S = 120


def sh(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_recording() -> Path:
    done = REC / "recording.json"
    if done.exists():
        return REC
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=CACHE, prefix="gen-"))
    clip = work / "clip.ts"
    print(f"generating a {CLIP_S} s 720p clip ...", flush=True)
    sh(
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(CLIP_S), "-c:v", "libx264", "-preset", "ultrafast", "-bf", "3",
        "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-b:v", "3M", "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", str(clip),
    )  # fmt: skip
    print("looping it into an hour of HLS segments ...", flush=True)
    loops = HOUR_S // CLIP_S - 1
    sh(
        "-stream_loop", str(loops), "-i", str(clip), "-c", "copy",
        "-f", "hls", "-hls_time", "2", "-hls_list_size", "0",
        "-hls_segment_filename", str(work / "s%05d.ts"), str(work / "index.m3u8"),
    )  # fmt: skip
    text = (work / "index.m3u8").read_text()
    durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text)]
    files = sorted(work.glob("s*.ts"))
    tmp_rec = CACHE / "split-rec-1h.tmp"
    shutil.rmtree(tmp_rec, ignore_errors=True)
    clock = 0.0
    with TimelineWriter(tmp_rec) as writer:
        writer.start()
        for i, (f, dur) in enumerate(zip(files, durations, strict=True)):
            writer.write_segment(1, i, f.read_bytes(), T0 + timedelta(seconds=clock), dur, True)
            clock += dur
        writer.end("ended", "ENDLIST")
        writer.write_meta({"source_url": "bench", "broadcast_id": "day1"})
    shutil.rmtree(work)
    shutil.rmtree(REC, ignore_errors=True)
    tmp_rec.rename(REC)
    return REC


SESSIONS = 6


def windows() -> list[tuple[float, float]]:
    """SESSIONS sessions filling the hour (6: ~9.5 min each), starting and ending mid-GOP."""
    step = (HOUR_S - 60) / SESSIONS
    return [(30.37 + k * step, 30.37 + k * step + step - 23.77) for k in range(SESSIONS)]


def program() -> Program:
    return Program(
        event=Event(id="bench", title={"en": "Bench"}, timezone="Asia/Seoul"),
        broadcasts=[Broadcast(id="day1", start=T0, end=T0 + timedelta(hours=1))],
        sessions=[
            Session(
                id=f"s{k}",
                broadcast="day1",
                start=T0 + timedelta(seconds=a),
                end=T0 + timedelta(seconds=b),
                title={"en": f"Session {k}"},
            )
            for k, (a, b) in enumerate(windows())
        ],
    )


CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[..., None], *args: object, name: str = "") -> float:
    """Wall seconds of ``fn(*args)``; the child processes' CPU seconds go to ``CPU[name]``."""
    cpu = _children_cpu()
    t = time.perf_counter()
    fn(*args)
    wall = time.perf_counter() - t
    if name:
        CPU.setdefault(name, []).append(_children_cpu() - cpu)
    return wall


def exact_one(prog: Program, out: Path, session_id: str) -> None:
    plan = plan_session(Timeline.load(REC), prog, session_id)
    work = out / f"w-{session_id}"
    cut(plan.pieces, out / f"{session_id}.mp4", mode="exact", workdir=work)
    shutil.rmtree(work)


def run_exact(prog: Program, out: Path, jobs: int = 1) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda sid: exact_one(prog, out, sid), [s.id for s in prog.sessions]))


def run_products(prog: Program, out: Path) -> None:
    for s in prog.sessions:
        split_session(REC, prog, s.id, out, force=True)


def concat_url(files: list[Path], out: Path, name: str) -> str:
    listing = out / f"{name}.txt"
    listing.write_text("".join(f"{f.resolve()}\n" for f in files))
    return f"concatf:{listing}"


def copy_one(prog: Program, out: Path, session_id: str) -> None:
    plan = plan_session(Timeline.load(REC), prog, session_id)
    (piece,) = plan.pieces
    url = concat_url(piece.files, out, session_id)
    sh(
        "-protocol_whitelist", "file,concatf", "-ss", f"{piece.offset_in:.3f}", "-i", url,
        "-t", f"{piece.duration_s:.3f}", "-map", "0", "-c", "copy",
        "-movflags", "+faststart", str(out / f"{session_id}-copy.mp4"),
    )  # fmt: skip


def run_copy(prog: Program, out: Path, jobs: int = 1) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda sid: copy_one(prog, out, sid), [s.id for s in prog.sessions]))


def run_reencode(prog: Program, out: Path, seconds: float) -> None:
    timeline = Timeline.load(REC)
    plan = plan_session(timeline, prog, prog.sessions[0].id)
    (piece,) = plan.pieces
    url = concat_url(piece.files, out, "re")
    sh(
        "-protocol_whitelist", "file,concatf", "-ss", f"{piece.offset_in:.3f}", "-i", url,
        "-t", f"{seconds:.3f}", "-map", "0", "-c:v", "libx264", "-preset", "veryfast",
        "-c:a", "copy", "-movflags", "+faststart", str(out / "re.mp4"),
    )  # fmt: skip


def _kind(argv: list[str]) -> str:
    text = " ".join(argv)
    if "ffprobe" in argv[0]:
        return "ffprobe (layout + packets near the cuts)"
    if "libx264" in text:
        return "tail re-encode" if "-tail." in text else "head re-encode"
    if " adts " in f"{text} ":
        return "audio copy to ADTS"
    if "image2" in text or "rawvideo" in text:
        return "thumbnail (own ffmpeg run)"
    return "join (concat -> MP4)"


def _run_measured(argv: list[str], timeout: float, check: bool = True, **_: object) -> object:
    """procs.run, plus the child's own CPU time (os.wait4), for the per-invocation profile."""
    import os
    import threading

    from streamer import procs
    from streamer.errors import ToolError

    proc = subprocess.Popen(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    out = proc.stdout.read()
    reader.join(timeout)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    _LAST_CPU[threading.get_ident()] = usage.ru_utime + usage.ru_stime
    result = procs.Result(
        [str(a) for a in argv],
        proc.returncode,
        out.decode("utf-8", "replace"),
        b"".join(err).decode("utf-8", "replace"),
    )
    if check and proc.returncode != 0:
        raise ToolError(f"{argv[0]} failed (rc={proc.returncode}): {result.stderr[-300:]}")
    return result


_LAST_CPU: dict[int, float] = {}


def profile(prog: Program, out: Path) -> None:
    """Wall and CPU time per ffmpeg/ffprobe invocation of split_session over all sessions,
    and the wall time of the Python steps (steps that run side by side overlap)."""
    import threading

    import streamer.split.join as join_mod
    from streamer import procs

    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    count: dict[str, int] = {}
    real_run = procs.run
    python_steps = [
        (mod, name)
        for mod, name in [
            (join_mod, "faststart"),
            (join_mod, "describe"),
        ]
        if hasattr(mod, name)
    ]
    real_py = {name: getattr(mod, name) for mod, name in python_steps}
    lock = threading.Lock()

    def add(name: str, t: float, c: float = 0.0) -> None:
        with lock:
            wall[name] = wall.get(name, 0.0) + time.perf_counter() - t
            cpu[name] = cpu.get(name, 0.0) + c
            count[name] = count.get(name, 0) + 1

    def run(argv: list[str], **kw: object) -> object:
        t = time.perf_counter()
        try:
            return _run_measured(argv, **kw)  # type: ignore[arg-type]
        finally:
            add(_kind(argv), t, _LAST_CPU.pop(threading.get_ident(), 0.0))

    def py_step(name: str) -> Callable[..., object]:
        real = real_py[name]

        def step(*args: object, **kw: object) -> object:
            t = time.perf_counter()
            c = time.thread_time()
            try:
                return real(*args, **kw)
            finally:
                add(f"{name}: sha256 (Python)", t, time.thread_time() - c)

        return step

    procs.run = run  # type: ignore[assignment]
    for mod, name in python_steps:
        setattr(mod, name, py_step(name))
    try:
        t0 = time.perf_counter()
        run_products(prog, out)
        total = time.perf_counter() - t0
    finally:
        procs.run = real_run
        for mod, name in python_steps:
            setattr(mod, name, real_py[name])
    n = len(prog.sessions)
    print(f"profile of exact + products, {n} sessions, {total:.2f} s wall:")
    head = ("runs", "wall s", "CPU s", "wall/sess", "CPU/sess")
    print(f"  {'step':42s} {head[0]:>5s} {head[1]:>8s} {head[2]:>8s} {head[3]:>9s} {head[4]:>9s}")
    for name, t in sorted(wall.items(), key=lambda kv: -cpu[kv[0]]):
        print(
            f"  {name:42s} {count[name]:5d} {t:8.2f} {cpu[name]:8.2f}"
            f" {t / n:9.3f} {cpu[name] / n:9.3f}"
        )
    print(f"  {'sum of CPU':42s} {'':5s} {'':8s} {sum(cpu.values()):8.2f}")
    base_wall, base_cpu = [], []
    for s in prog.sessions:
        c = _children_cpu()
        t = time.perf_counter()
        copy_one(prog, out, s.id)
        base_wall.append(time.perf_counter() - t)
        base_cpu.append(_children_cpu() - c)
    print(
        f"  {'baseline: ffmpeg -ss -t -c copy +faststart':42s} {n:5d} {sum(base_wall):8.2f}"
        f" {sum(base_cpu):8.2f} {sum(base_wall) / n:9.3f} {sum(base_cpu) / n:9.3f}"
    )
    start_cpu = []
    for _ in prog.sessions:  # what starting an ffmpeg process costs, with no work at all
        c = _children_cpu()
        sh("-f", "lavfi", "-i", "nullsrc=s=16x16", "-frames:v", "1", "-f", "null", "-")
        start_cpu.append(_children_cpu() - c)
    start = statistics.median(start_cpu)
    print(f"  {'ffmpeg start alone (1 null frame)':42s} {n:5d} {'':8s} {sum(start_cpu):8.2f}")
    # the floor: the copy plus the codec work of the ends (the re-encodes without their
    # process starts), no probe, no hash: what an exact cut costs at the very least
    ends = sum(v for k, v in cpu.items() if "re-encode" in k) - start * 2 * n
    floor = (sum(base_cpu) + ends) / sum(base_cpu)
    print(f"  floor (copy + re-encode work, no process start, probe or hash) / copy = {floor:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reencode-s", type=float, default=60.0)
    parser.add_argument("--sessions", type=int, default=6, help="how many sessions in the hour")
    parser.add_argument("--profile", action="store_true", help="only the per-step breakdown")
    parser.add_argument("--extras", action="store_true", help="also 2 jobs and full re-encode")
    args = parser.parse_args()
    global SESSIONS
    SESSIONS = args.sessions
    make_recording()
    prog = program()
    if args.profile:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            profile(prog, Path(tmp))
        return
    if args.extras:
        extras(prog, args)
    paired(prog, args.runs)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall, CPU) of ``fn``: CPU is its child processes' plus this process's own (the Python
    side: hashing, planning), user + system."""
    c0, s0, t0 = _children_cpu(), _self_cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, _children_cpu() - c0 + _self_cpu() - s0


def _step(name: str, prog: Program, out: Path, sid: str) -> None:
    if name == "copy":
        copy_one(prog, out, sid)
    elif name == "exact":
        exact_one(prog, out, sid)
    else:
        split_session(REC, prog, sid, out / "stage", force=True)


def paired(prog: Program, runs: int) -> None:
    """Per session, the copy, the exact cut and the whole split stage run one after the other
    (in a rotating order), so the three see the same load; the ratios are taken per run."""
    names = ("copy", "exact", "stage")
    per_run: list[dict[str, tuple[float, float]]] = []
    for run in range(runs):
        wall = dict.fromkeys(names, 0.0)
        cpu = dict.fromkeys(names, 0.0)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            out = Path(tmp)
            for k, session in enumerate(prog.sessions):
                sid = session.id
                order = names[k % 3 :] + names[: k % 3]
                for name in order:
                    w, c = _measure(functools.partial(_step, name, prog, out, sid))
                    wall[name] += w
                    cpu[name] += c
        per_run.append({n: (wall[n], cpu[n]) for n in names})
        r = per_run[-1]
        print(
            f"run {run + 1}: copy {r['copy'][0]:.2f} s ({r['copy'][1]:.2f} CPU-s), "
            f"exact {r['exact'][0]:.2f} s ({r['exact'][1]:.2f}), "
            f"stage {r['stage'][0]:.2f} s ({r['stage'][1]:.2f}); "
            f"exact/copy {r['exact'][0] / r['copy'][0]:.2f} wall {r['exact'][1] / r['copy'][1]:.2f}"
            f" CPU, stage/copy {r['stage'][0] / r['copy'][0]:.2f} wall"
            f" {r['stage'][1] / r['copy'][1]:.2f} CPU",
            flush=True,
        )

    def med(name: str, i: int) -> float:
        return statistics.median(r[name][i] for r in per_run)

    def ratio(name: str, i: int) -> float:
        return statistics.median(r[name][i] / r["copy"][i] for r in per_run)

    mean_window = statistics.fmean(b - a for a, b in windows())
    print()
    print(f"{SESSIONS} sessions x {mean_window / 60:.1f} min of 720p25, median of {runs} runs:")
    print(f"  {'':34s} {'wall s':>8s} {'CPU s':>8s}")
    print(f"  {'copy (baseline, -ss/-t -c copy)':34s} {med('copy', 0):8.2f} {med('copy', 1):8.2f}")
    print(f"  {'exact cut (cutter.cut)':34s} {med('exact', 0):8.2f} {med('exact', 1):8.2f}")
    print(f"  {'whole stage (split_session)':34s} {med('stage', 0):8.2f} {med('stage', 1):8.2f}")
    print(
        f"  exact / copy = {ratio('exact', 0):.2f} wall, {ratio('exact', 1):.2f} CPU"
        "  (goal <= 1.3; median of the per-run ratios)"
    )
    print(
        f"  whole stage / copy = {ratio('stage', 0):.2f} wall, {ratio('stage', 1):.2f} CPU"
        "  (goal <= 1.5)"
    )


def extras(prog: Program, args: argparse.Namespace) -> None:
    """Two sessions at a time, and the full re-encode (scaled), against the copy."""
    mean_window = statistics.fmean(b - a for a, b in windows())
    results: dict[str, list[float]] = {"copy-2jobs": [], "exact-2jobs": [], "re": [], "exact": []}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            out = Path(tmp)
            results["copy-2jobs"].append(timed(run_copy, prog, out / "c2", 2))
            results["exact-2jobs"].append(timed(run_exact, prog, out / "e2", 2))
            results["exact"].append(timed(run_exact, prog, out / "e1", 1))
            re_s = timed(run_reencode, prog, out, args.reencode_s)
            results["re"].append(re_s * mean_window / args.reencode_s * len(windows()))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"  exact 2 jobs / copy 2 jobs = {med['exact-2jobs'] / med['copy-2jobs']:.2f}")
    print(f"  re-encode / exact = {med['re'] / med['exact']:.1f}  (goal >= 30)")


if __name__ == "__main__":
    main()
