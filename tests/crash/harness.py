"""Crash anywhere, lose nothing (issue 15 part 3): the compressed demo day, run by ``streamer
run`` subprocesses that are SIGKILLed (the whole process group: ffmpeg children too) at
seeded random instants and restarted, compared with an uninterrupted run of the same day.

The day is the demo's (``service/demo.py``): the forum's first sessions compressed to a few
seconds each, on a YouTube-shaped broadcast (a short HLS window and a DVR,
``simulate/youtube_media.py``) that goes offline for longer than its window in the second
session, so only the heal can fill that. The broadcast, its info dict, the webhook receiver
and moto's S3 live in this process and survive the kills.

Time is real (the service is a subprocess), so nothing here asserts on timing: a seed fixes
the kill schedule (each life's up-time, from its start-up or from when it serves, and the
time it stays down), and the verdict is on the result. By hand (``scripts/crash.sh``):
``python -m tests.crash.harness --seeds N --kills 20 --storage local|s3|both``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from streamer import procs
from streamer.cli.simulate_youtube import write_info
from streamer.schedule.dump import dump_program
from streamer.schedule.load import load_program
from streamer.service.demo import FORUM_FILE, LEAD_S, compress
from streamer.simulate.youtube_media import Content, YouTubeMedia, prepare
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "crash-admin-token-0123456789abcdefghijklmnop"
FINAL_SESSION = {"published"}
FINAL_BROADCAST = {"ended", "failed", "missing"}
SERVICE_S3_PREFIX = "vods"


# ---- the day ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayShape:
    """The compressed day: ``sessions`` × ``session_s`` on 1 s segments, the demo's outage."""

    sessions: int = 3
    session_s: int = 20
    window_s: float = 4.0  # the HLS window; the outage outlasts it
    outage_s: float = 12.0  # in the second session
    end_after_s: float = 2.0  # the broadcast ends this long after the last session

    @property
    def length_s(self) -> float:
        return LEAD_S + self.sessions * self.session_s + self.end_after_s


def media_content(cache: Path, shape: DayShape) -> Content:
    """The broadcast's media, encoded once per cache dir (as the demo does)."""
    return prepare(
        cache,
        duration_s=shape.length_s + 60,
        segment_s=1.0,
        width=320,
        height=180,
        fps=25,
    )


class Broadcast:
    """The simulated YouTube broadcast of one run, its info dict file and its script: the
    outage in the second session, the end after the last."""

    def __init__(self, content: Content, shape: DayShape, run_dir: Path) -> None:
        # a whole second, so the schedule's boundaries fall on segment (keyframe) starts
        start = math.ceil(time.time()) + 1.0
        self.media = YouTubeMedia(content, started_at=start, window_s=shape.window_s).start()
        self.shape = shape
        self.start = datetime.fromtimestamp(start, UTC)
        self.info = run_dir / "info.json"
        forum = load_program(ROOT / "schedules" / FORUM_FILE)
        url = f"https://www.youtube.com/watch?v={self.media.video_id}"
        self.program = compress(forum, url, self.start, shape.sessions, float(shape.session_s))
        self._stop = threading.Event()
        write_info(self.media, self.info)
        self._thread = threading.Thread(target=self._script, daemon=True)
        self._thread.start()

    @property
    def event_id(self) -> str:
        return self.program.event.id

    def _script(self) -> None:
        middle = self.program.sessions[min(1, len(self.program.sessions) - 1)]
        outage_at = (middle.start + timedelta(seconds=1)).timestamp()
        end_at = self.program.broadcasts[0].end.timestamp() + self.shape.end_after_s
        cut = ended = False
        while not self._stop.is_set():
            moment = time.time()
            if not cut and moment >= outage_at:
                self.media.outage_until = outage_at + self.shape.outage_s
                cut = True
            if not ended and moment >= end_at:
                self.media.end()  # ENDLIST, then post_live fragments (the DVR stays)
                ended = True
            write_info(self.media, self.info)  # URLs expire, the head moves: keep it fresh
            self._stop.wait(0.5)

    def since_start(self) -> float:
        return time.time() - self.start.timestamp()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.media.close()


# ---- around the service ----------------------------------------------------------------------


class Hooks:
    """A webhook receiver: every delivery, deduplicated by its delivery id."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hooks._lock:
                    hooks.events[self.headers.get("X-Streamer-Delivery", "")] = json.loads(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events.values() if e.get("type") == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class S3Target:
    endpoint: str
    bucket: str

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}),
        )


class Service:
    """``streamer run`` in its own process group, so a kill takes its ffmpeg children too."""

    def __init__(
        self,
        run_dir: Path,
        info: Path,
        hooks: Hooks,
        s3: S3Target | None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.data = run_dir / "data"
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "CRASH_INFO_JSON": str(info),
                "STREAMER_DATA_DIR": str(self.data),
                "STREAMER_SCHEDULES": str(run_dir / "schedules"),
                "STREAMER_ADMIN_TOKEN": TOKEN,
                "STREAMER_ALLOW_PRIVATE_SOURCES": "true",
                "STREAMER_WEBHOOKS": json.dumps([hooks.url]),
                # the demo's settings (service/demo.py)
                "STREAMER_GRACE_S": "3",
                "STREAMER_WATCH_LEAD_S": "60",
                "STREAMER_LATE_LIMIT_S": "60",
                "STREAMER_STALL_TIMEOUT_S": "30",
                "STREAMER_WATCH_POLL_S": "1",
                "STREAMER_LOG_LEVEL": "INFO",
            }
        )
        if s3 is not None:
            env.update(
                {
                    "STREAMER_STORAGE": f"s3://{s3.bucket}/{SERVICE_S3_PREFIX}",
                    "STREAMER_S3_ENDPOINT_URL": s3.endpoint,
                    "STREAMER_S3_PATH_STYLE": "true",
                    "STREAMER_S3_PART_SIZE_MB": "5",
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1",
                }
            )
        self.env = env | (extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.lives = 0

    def spawn(self) -> None:
        self.lives += 1
        out = open(self.logs / f"life-{self.lives:02d}.log", "ab")  # noqa: SIM115
        cmd = [sys.executable, "-m", "tests.crash.service", "run", "--port", str(free_port())]
        self.proc = subprocess.Popen(
            cmd, cwd=self.run_dir, env=self.env, stdout=out, stderr=out, start_new_session=True
        )
        out.close()

    def wait_serving(self, bound_s: float) -> None:
        """Until this life serves (it prints its URL once the orchestrator has started)."""
        log = self.logs / f"life-{self.lives:02d}.log"
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            if b"streamer running" in log.read_bytes():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the service exited at start-up: see {log}")
            time.sleep(0.05)
        raise RuntimeError(f"the service did not start in {bound_s:.0f}s: see {log}")

    def kill(self) -> None:
        """SIGKILL the whole process group, as a power cut or the OOM killer would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """The clean stop at the end of the day (SIGTERM; SIGKILL after 60 s)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None


# ---- the kill schedule -------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """One kill: ``after_s`` from the life's start-up (``in_startup``) or from the moment it
    serves; then ``down_s`` before the restart."""

    in_startup: bool
    after_s: float
    down_s: float

    def __str__(self) -> str:
        return (
            f"{'spawn' if self.in_startup else 'ready'}+{self.after_s:.1f}s/down {self.down_s:.1f}s"
        )


@dataclass(frozen=True)
class KillPlan:
    """A seed's kill schedule. Instants are drawn within each life, so every life (but the
    ones killed in their start-up, one in five) gets to work however slowly the machine
    starts Python: a schedule of instants on the day's clock killed 18 lives in a row in
    their start-up on a loaded machine, and the day passed with no service at all."""

    seed: int
    kills: tuple[Kill, ...]

    @classmethod
    def draw(cls, seed: int, kills: int) -> KillPlan:
        """Up-times of 0.2-8 s (a life sees a few segments, a split, a publish), restarts
        0.3-6 s later (past the 4 s HLS window now and then: the DVR must fill the rest)."""
        rng = random.Random(seed)
        out = []
        for _ in range(kills):
            in_startup = rng.random() < 0.2
            after = rng.uniform(0.0, 3.0) if in_startup else rng.uniform(0.2, 8.0)
            out.append(Kill(in_startup, round(after, 2), round(rng.uniform(0.3, 6.0), 2)))
        return cls(seed, tuple(out))

    def describe(self) -> str:
        return f"seed {self.seed}: {len(self.kills)} kills [{', '.join(map(str, self.kills))}]"


# ---- one run of the day ----------------------------------------------------------------------


@dataclass
class DayResult:
    """What a run left: where to look, and what happened on the way."""

    label: str
    run_dir: Path
    event_id: str
    session_ids: list[str]
    hooks_events: list[dict[str, Any]]
    s3: S3Target | None
    kills_done: int = 0
    finished: bool = False
    states: dict[str, str] = field(default_factory=dict)
    broadcast_state: str = ""
    wall_s: float = 0.0

    @property
    def data(self) -> Path:
        return self.run_dir / "data"


def db_states(db: Path, event_id: str) -> tuple[dict[str, str], list[str], int]:
    """(session → state, broadcast states, undelivered webhook events), read-only."""
    if not db.exists():
        return {}, [], 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            sessions = dict(
                conn.execute("SELECT id, state FROM sessions WHERE event_id = ?", (event_id,))
            )
            broadcasts = [
                r[0]
                for r in conn.execute(
                    "SELECT state FROM broadcasts WHERE event_id = ?", (event_id,)
                )
            ]
            outbox = int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return {}, [], 0  # not created yet, or mid-migration
    return sessions, broadcasts, outbox


def run_day(
    label: str,
    run_dir: Path,
    content: Content,
    shape: DayShape,
    plan: KillPlan | None,
    *,
    s3: S3Target | None = None,
    bound_s: float = 240.0,
    say: Any = print,
) -> DayResult:
    """Run the day once; ``plan`` kills and restarts the service on its schedule. Waits
    (bounded) until every session is final, the broadcast is over and every webhook is out."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "schedules").mkdir(exist_ok=True)
    hooks = Hooks()
    day = Broadcast(content, shape, run_dir)
    service = Service(run_dir, day.info, hooks, s3)
    result = DayResult(label, run_dir, day.event_id, [s.id for s in day.program.sessions], [], s3)
    (run_dir / "schedules" / FORUM_FILE).write_text(dump_program(day.program), "utf-8")
    began = time.monotonic()
    db = service.data / "streamer.db"
    try:
        service.spawn()
        for i, kill in enumerate(plan.kills if plan else ()):
            if kill.in_startup:
                time.sleep(kill.after_s)
            else:
                service.wait_serving(bound_s)
                time.sleep(kill.after_s)
            service.kill()
            result.kills_done = i + 1
            say(f"  [{label}] kill {i + 1} ({kill}) at {day.since_start():.1f}s of the day")
            time.sleep(kill.down_s)
            service.spawn()
        # bounded past the day's end: a session not final by then is stuck
        deadline = time.monotonic() + max(0.0, shape.length_s - day.since_start()) + bound_s
        while time.monotonic() < deadline:
            sessions, broadcasts, outbox = db_states(db, day.event_id)
            result.states, result.broadcast_state = sessions, ",".join(broadcasts)
            if (
                sessions
                and all(s in FINAL_SESSION for s in sessions.values())
                and broadcasts
                and all(b in FINAL_BROADCAST for b in broadcasts)
                and outbox == 0
            ):
                result.finished = True
                break
            time.sleep(0.5)
    finally:
        service.stop()
        day.close()
        time.sleep(0.2)
        result.hooks_events = list(hooks.events.values())
        hooks.close()
    result.wall_s = time.monotonic() - began
    return result


# ---- what a run left, and the comparison -------------------------------------------------------


@dataclass(frozen=True)
class Frames:
    count: int
    first: str
    last: str
    all: str  # md5 of the whole frame list


def frames(video: Path) -> Frames:
    """Decoded video frames' md5s (ffmpeg ``framemd5``): count, first, last, all."""
    res = subprocess.run(
        [procs.ffmpeg(), "-nostdin", "-v", "error", "-i", str(video), "-map", "0:v:0",
         "-f", "framemd5", "-"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    hashes = [ln.rsplit(",", 1)[1].strip() for ln in res.stdout.splitlines() if ln[:1] != "#"]
    if not hashes:
        return Frames(0, "", "", "")
    whole = hashlib.md5("".join(hashes).encode()).hexdigest()
    return Frames(len(hashes), hashes[0], hashes[-1], whole)


class Objects:
    """The published objects of a run, local or S3, behind one small reading interface."""

    def __init__(self, result: DayResult) -> None:
        self.result = result
        self.public = result.data / "public"

    def keys(self) -> list[str]:
        if self.result.s3 is None:
            return sorted(
                p.relative_to(self.public).as_posix() for p in self.public.rglob("*") if p.is_file()
            )
        client = self.result.s3.client()
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.result.s3.bucket, Prefix=f"{SERVICE_S3_PREFIX}/"
        ):
            keys += [o["Key"][len(SERVICE_S3_PREFIX) + 1 :] for o in page.get("Contents", [])]
        return sorted(keys)

    def read(self, key: str) -> bytes:
        if self.result.s3 is None:
            return (self.public / key).read_bytes()
        body = self.result.s3.client().get_object(
            Bucket=self.result.s3.bucket, Key=f"{SERVICE_S3_PREFIX}/{key}"
        )["Body"]
        data: bytes = body.read()
        return data

    def key_of_url(self, url: str) -> str:
        marker = "/media/" if self.result.s3 is None else f"/{SERVICE_S3_PREFIX}/"
        return url.split(marker, 1)[1].split("?", 1)[0]

    def incomplete_uploads(self) -> list[str]:
        if self.result.s3 is None:
            return []
        client = self.result.s3.client()
        found = client.list_multipart_uploads(Bucket=self.result.s3.bucket)
        return [u["Key"] for u in found.get("Uploads", [])]


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    frames: dict[str, Frames] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(what)


def examine(result: DayResult, work: Path) -> Verdict:
    """Everything one run must hold by itself; the frames for the comparison."""
    v = Verdict()
    ev = result.event_id
    v.check(result.finished, f"not finished: sessions {result.states}, broadcast "
            f"{result.broadcast_state!r} (a session stuck in a non-final state?)")  # fmt: skip
    objects = Objects(result)
    keys = objects.keys()
    # catalog documents: valid, and consistent with the objects present
    index = json.loads(objects.read(f"{ev}/index.json"))
    items = {i["session_id"]: i for i in index["items"]}
    v.check(sorted(items) == sorted(result.session_ids),
            f"index.json lists {sorted(items)}, the day has {result.session_ids}")  # fmt: skip
    expected = {"events.json", f"{ev}/index.json", f"{ev}/feed.xml"}
    for sid, item in items.items():
        expected |= {f"{ev}/{sid}.mp4", f"{ev}/{sid}.jpg", f"{ev}/{sid}.json"}
        record = json.loads(objects.read(f"{ev}/{sid}.json"))
        v.check(record == item, f"{sid}: {ev}/{sid}.json differs from its index.json entry")
        media = objects.read(objects.key_of_url(item["media_url"]))
        v.check(len(media) == item["size_bytes"], f"{sid}: media size != size_bytes")
        v.check(hashlib.sha256(media).hexdigest() == item["sha256"], f"{sid}: media sha256")
        v.check(objects.key_of_url(item["thumbnail_url"]) in keys, f"{sid}: no thumbnail")
        v.check(item.get("status") == "complete" and not item.get("gaps"),
                f"{sid}: recording not complete: status {item.get('status')}, gaps "
                f"{item.get('gaps')}")  # fmt: skip
        v.versions[sid] = int(item["version"])
        path = work / f"{result.label}-{sid}.mp4"
        path.write_bytes(media)
        v.frames[sid] = frames(path)
    events = json.loads(objects.read("events.json"))
    listed = {e["id"]: e for e in events["events"]}
    v.check(ev in listed and listed[ev]["count"] == len(items), f"events.json: {listed}")
    feed = ET.fromstring(objects.read(f"{ev}/feed.xml"))
    enclosures = [e.get("url", "") for e in feed.iter("enclosure")]
    v.check(sorted(enclosures) == sorted(i["media_url"] for i in items.values()),
            f"feed.xml enclosures {enclosures} != index media")  # fmt: skip
    # no orphan or half-written objects
    v.check(sorted(keys) == sorted(expected),
            f"objects beyond the catalog (orphans or temp files): "
            f"{sorted(set(keys) - expected)}; missing: {sorted(expected - set(keys))}")  # fmt: skip
    v.check(not objects.incomplete_uploads(),
            f"incomplete multipart uploads: {objects.incomplete_uploads()}")  # fmt: skip
    work_dirs = sorted(
        p.relative_to(result.data).as_posix()
        for p in (result.data / "vods").rglob(".*")
    ) if (result.data / "vods").is_dir() else []  # fmt: skip
    v.check(not work_dirs, f"split leftovers: {work_dirs}")
    # one publish per session: a v2 means a false (incomplete) VOD went out first
    published: dict[str, set[int]] = {}
    for e in result.hooks_events:
        if e["type"] == "session.published":
            published.setdefault(e["data"]["session_id"], set()).add(e["data"]["version"])
    once = all(versions == {1} for versions in published.values())
    v.check(once and set(v.versions.values()) == {1}, f"published more than once: {published}")
    # webhooks: one go-live (the others resumed)
    live = [e for e in result.hooks_events if e["type"] == "broadcast.live"]
    fresh = [e for e in live if not e["data"].get("resumed")]
    v.check(len(fresh) == 1, f"broadcast.live not resumed: {len(fresh)} times")
    return v


def compare(reference: Verdict, crashed: Verdict) -> list[str]:
    """What the crashed run must share with the uninterrupted one."""
    problems = []
    if sorted(reference.frames) != sorted(crashed.frames):
        problems.append(f"VOD set {sorted(crashed.frames)} != {sorted(reference.frames)}")
    for sid, ref in reference.frames.items():
        got = crashed.frames.get(sid)
        if got is None:
            continue
        for name in ("count", "first", "last"):
            if getattr(got, name) != getattr(ref, name):
                problems.append(f"{sid}: frame {name} {getattr(got, name)} != {getattr(ref, name)}")
    return problems


# ---- by hand -----------------------------------------------------------------------------------


@contextlib.contextmanager
def moto_bucket() -> Iterator[S3Target]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        target = S3Target(f"http://127.0.0.1:{port}", "crash")
        for _ in range(100):
            try:
                target.client().create_bucket(Bucket=target.bucket)
                break
            except Exception:
                time.sleep(0.1)
        yield target
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=1, help="how many seeds (runs per storage)")
    ap.add_argument("--seed", type=int, default=None, help="the first seed (default: random)")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--storage", choices=("local", "s3", "both"), default="both")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "crash")
    args = ap.parse_args(argv)
    shape = DayShape()
    first = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out / stamp
    out.mkdir(parents=True)
    content = media_content(ROOT / "bench" / ".cache" / "crash-media", shape)
    print(f"crash harness: {args.seeds} seed(s) from {first}, {args.kills} kills, {out}")
    reference = run_day("reference", out / "reference", content, shape, None)
    ref = examine(reference, out)
    print(f"reference: {reference.wall_s:.0f}s, problems {ref.problems or 'none'}")
    failures = 0
    storages = ("local", "s3") if args.storage == "both" else (args.storage,)
    for seed in range(first, first + args.seeds):
        plan = KillPlan.draw(seed, args.kills)
        for storage in storages:
            print(f"{storage} {plan.describe()}")
            with contextlib.ExitStack() as stack:
                s3 = stack.enter_context(moto_bucket()) if storage == "s3" else None
                label = f"{storage}-{seed}"
                crashed = run_day(label, out / label, content, shape, plan, s3=s3)
                got = examine(crashed, out)
            problems = got.problems + compare(ref, got)
            failures += bool(problems)
            verdict = "OK" if not problems else "FAILED:\n    " + "\n    ".join(problems)
            print(f"  {label}: {crashed.kills_done} kills, {crashed.wall_s:.0f}s, {verdict}")
    return 1 if failures or ref.problems else 0


if __name__ == "__main__":
    sys.exit(main())
