"""The service end to end: `streamer run` on a short simulated schedule, killed and restarted,
steered through the admin API; and `streamer demo --once`.

Real parts only: real ffmpeg segments served live on 127.0.0.1 (a timeline that follows the
clock, not a live encoder that falls behind under load), yt-dlp's generic extractor, the HLS
poller, ffmpeg cuts, the local store, uvicorn, SQLite, APScheduler.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.timeutil import iso, now
from tests.api.test_browser import wait_js
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ScriptedLive

# several processes under one test: its waits are bounded one by one, so the whole may take
# longer than the default 300 s on a loaded machine without hanging
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TOKEN = "e2e-admin-token-0123456789abcdefghijklmnop"
SECRET = "hook-secret"
STREAMER = [sys.executable, "-m", "streamer"]


class Hooks:
    """A webhook receiver on loopback that checks signatures."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # signed: "{timestamp}.{delivery}." + body (docs/security.md)
                signed = (
                    f"{self.headers.get('X-Streamer-Timestamp')}."
                    f"{self.headers.get('X-Streamer-Delivery')}."
                ).encode() + body
                want = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
                if self.headers.get("X-Streamer-Signature") != want:
                    hooks.bad_signatures += 1
                hooks.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last={last!r}")


def start_service(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115
    return subprocess.Popen(
        [*STREAMER, "run", "--port", str(port)], env=env, stdout=out, stderr=out
    )


def status(client: httpx.Client) -> dict[str, Any]:
    resp = client.get("/api/v1/admin/status", headers={"Authorization": f"Bearer {TOKEN}"})
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def sessions_by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in data["sessions"]}


def get_status(client: httpx.Client) -> dict[str, Any] | None:
    try:
        return status(client)
    except httpx.HTTPError:
        return None


# Waits are conditions; their bounds are generous because the machine may be loaded.
BOUND_S = 300.0


@pytest.fixture
def sim(live_segments: list[bytes]) -> Iterator[ScriptedLive]:
    """A live source whose timeline follows the wall clock by construction (real ffmpeg
    segments, no live encoder that falls behind under load): the schedule's times are its
    PROGRAM-DATE-TIMEs. Its 60-segment window outlasts even a slow restart."""
    with ScriptedLive(live_segments, window=60) as b:
        yield b


def write_schedule(path: Path, url: str, t0: Any) -> None:
    def t(s: float) -> str:
        return iso(t0 + timedelta(seconds=s))

    path.write_text(
        f"""
event:
  id: testfest
  title: {{ko: "테스트 페스트", en: "Test Fest"}}
  timezone: Asia/Seoul
broadcasts:
  - id: main
    url: {url}
    start: {t(0)}
    end: {t(40)}
  - id: side
    start: {t(0)}
    end: {t(40)}
sessions:
  - id: s1
    broadcast: main
    start: {t(6)}
    end: {t(20)}
    title: {{ko: "첫 세션", en: "First session"}}
    speakers: [{{name: "정재승", affiliation: "KAIST"}}]
    language: ko
  - id: s2
    broadcast: main
    start: {t(20)}
    end: {t(34)}
    title: "Second session"
    language: en
  - id: side1
    broadcast: side
    start: {t(5)}
    end: {t(10)}
    title: "Nobody streams this"
""",
        "utf-8",
    )


def play_in_chromium(url: str, screenshot: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            wait_js(page, "document.querySelector('video').readyState >= 1")
            page.evaluate(
                "() => { const v = document.querySelector('video');"
                " v.muted = true; return v.play(); }"
            )
            wait_js(page, "document.querySelector('video').currentTime > 3", 20.0)
            assert page.evaluate("document.querySelector('video').error") is None
            page.screenshot(path=str(screenshot))
            assert errors == []
        finally:
            browser.close()


def test_run_survives_sigkill_and_is_steered_by_the_admin_api(
    tmp_path: Path, sim: ScriptedLive, free_port: int, artifacts_dir: Path
) -> None:
    artifacts = artifacts_dir
    hooks = Hooks()
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    env = {
        **os.environ,
        "STREAMER_DATA_DIR": str(tmp_path / "data"),
        "STREAMER_SCHEDULES": str(schedules),
        "STREAMER_ADMIN_TOKEN": TOKEN,
        "STREAMER_ALLOW_PRIVATE_SOURCES": "true",  # the simulator and hooks are on 127.0.0.1
        "STREAMER_GRACE_S": "2",
        "STREAMER_WATCH_LEAD_S": "60",
        "STREAMER_STALL_TIMEOUT_S": "8",
        "STREAMER_LATE_LIMIT_S": "30",
        "STREAMER_WEBHOOKS": json.dumps([hooks.url]),
        "STREAMER_WEBHOOK_SECRET": SECRET,
    }
    log = tmp_path / "service.log"
    client = httpx.Client(base_url=f"http://127.0.0.1:{free_port}", timeout=120)
    proc = start_service(env, free_port, log)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        # The schedule's clock starts once the service is up: starting it may take a minute
        # on a loaded machine, and the scenario must not depend on that.
        wait_for(lambda: get_status(client), BOUND_S, "the service")
        t0 = now()
        write_schedule(schedules / "testfest.yaml", sim.url, t0)
        loaded = client.post("/api/v1/admin/reload", headers=auth).json()
        assert loaded["errors"] == [] and "s1" in loaded["added"], loaded
        wait_for(
            lambda: (
                (st := get_status(client))
                and any(b["id"] == "main" and b["state"] == "live" for b in st["broadcasts"])
            ),
            BOUND_S,
            "the broadcast to go live",
        )
        time.sleep(max(0.0, 12 - (now() - t0).total_seconds()))
        proc.send_signal(signal.SIGKILL)  # a crash mid-broadcast, inside session s1
        proc.wait(BOUND_S)
        before_kill = len(sim.served)  # the playlists the killed service was answered
        time.sleep(2)  # the outage: the source runs on without a reader
        proc = start_service(env, free_port, log)
        wait_for(lambda: get_status(client), BOUND_S, "the restarted service")

        wait_for(lambda: now() > t0 + timedelta(seconds=36), BOUND_S, "the broadcast's end")
        sim.stop()  # ENDLIST

        def both_published() -> bool:
            st = get_status(client)
            if not st:
                return False
            by = sessions_by_id(st)
            return all(by[s]["state"] == "published" for s in ("s1", "s2"))

        wait_for(both_published, BOUND_S, "s1 and s2 to be published")
        st = status(client)
        # the session without a stream fails with a reason that says why
        wait_for(
            lambda: sessions_by_id(status(client))["side1"]["state"] == "failed", BOUND_S, "side1"
        )
        side = sessions_by_id(status(client))["side1"]
        assert "missing" in side["reason"] or "never recorded" in side["reason"]
        sides = [b for b in st["broadcasts"] if b["id"] == "side"]
        assert sides[0]["state"] == "missing" and "no URL" in sides[0]["reason"]

        # the restart came well inside the 60-segment playlist window: nothing lost
        rec_dir = tmp_path / "data" / "recordings" / "testfest" / "main"
        inspect = subprocess.run(
            [*STREAMER, "inspect", str(rec_dir), "--json"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        timeline = json.loads(inspect.stdout)
        # the premise, on the source's timeline (not the restart's wall time): the restarted
        # service's first playlist still listed the segment after the last one it had seen
        last_seen = max(sim.served[before_kill - 1])
        assert min(sim.served[before_kill]) <= last_seen + 1, (last_seen, sim.served[before_kill])
        assert timeline["gaps"] == [], timeline["gaps"]

        # the index lists both, and its media are there
        index = json.loads(
            (tmp_path / "data" / "public" / "testfest" / "index.json").read_text("utf-8")
        )
        items = {i["session_id"]: i for i in index["items"]}
        assert set(items) == {"s1", "s2"}
        assert abs(items["s1"]["duration_s"] - 14) < 1.0
        assert items["s1"]["title"]["ko"] == "첫 세션"
        media = client.get(items["s1"]["media_url"])
        assert media.status_code == 200 and len(media.content) == items["s1"]["size_bytes"]

        # a viewer plays the smart-cut VOD in Chromium, across the re-encoded head's join
        play_in_chromium(
            f"http://127.0.0.1:{free_port}/watch/testfest.s1", artifacts / "e2e-watch-s1.png"
        )

        # status --json from the CLI, beside the running service
        cli = subprocess.run(
            [*STREAMER, "status", "--json"], capture_output=True, text=True, check=True, env=env
        )
        cli_sessions = sessions_by_id(json.loads(cli.stdout))
        assert cli_sessions["side1"]["reason"] == side["reason"]
        assert cli_sessions["s1"]["state"] == "published"

        # the media team shortens s1 by 4 s: re-split, republished as version 2
        resp = client.post("/api/v1/admin/sessions/s1/cut", json={"end_offset_s": -4}, headers=auth)
        assert resp.status_code == 200, resp.text
        index = json.loads(
            (tmp_path / "data" / "public" / "testfest" / "index.json").read_text("utf-8")
        )
        s1 = next(i for i in index["items"] if i["session_id"] == "s1")
        assert abs(s1["duration_s"] - 10) < 1.0 and s1["version"] == items["s1"]["version"] + 1

        # a bad request is refused with reasons, and changes nothing
        bad = client.post("/api/v1/admin/sessions/s1/cut", json={"end": "yesterday"}, headers=auth)
        assert bad.status_code == 422
        assert client.post("/api/v1/admin/sessions/s1/cut", json={}).status_code == 401

        # unpublish s2: gone from the index first, then its objects
        resp = client.post("/api/v1/admin/sessions/s2/unpublish", headers=auth)
        assert resp.status_code == 200, resp.text
        index = json.loads(
            (tmp_path / "data" / "public" / "testfest" / "index.json").read_text("utf-8")
        )
        assert [i["session_id"] for i in index["items"]] == ["s1"]
        assert not (tmp_path / "data" / "public" / "testfest" / "s2.mp4").exists()

        # reload: a new session is added, a published one removed from the file is kept
        text = (schedules / "testfest.yaml").read_text("utf-8")
        text = text.replace(
            "  - id: s1\n",
            "  - id: s0\n    broadcast: main\n"
            f"    start: {iso(t0 + timedelta(seconds=34))}\n"
            f"    end: {iso(t0 + timedelta(seconds=38))}\n"
            "    title: Later\n  - id: s1-gone\n",
            1,
        )
        (schedules / "testfest.yaml").write_text(text, "utf-8")
        diff = client.post("/api/v1/admin/reload", headers=auth).json()
        assert diff["errors"] == [] and "s0" in diff["added"] and "s1" in diff["kept"], diff

        # webhooks are delivered in the background: wait for them, a loaded machine is slow
        wait_for(
            lambda: "session.failed" in (k := hooks.kinds()) and k.count("session.published") >= 3,
            BOUND_S,
            "the session.failed and session.published hooks",
        )
        assert hooks.bad_signatures == 0
        kinds = hooks.kinds()
        assert "broadcast.live" in kinds and kinds.count("session.published") >= 3, kinds
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = -9
            assert rc == 0, log.read_text()[-3000:]
        client.close()


def test_demo_once_publishes_every_session(tmp_path: Path, free_port: int) -> None:
    """As the README runs it: the default, relative data dir (./data) and schedules/."""
    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "schedules", tmp_path / "schedules")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    done = subprocess.run(
        [*STREAMER, "demo", "--once", "--port", str(free_port), "--session-seconds", "12"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    # no wall-time limit but the hang guard above: speed is measured in bench/, not here
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    index_path = tmp_path / "data" / "demo" / "data" / "public"
    index_file = next(index_path.glob("*/index.json"))
    index = json.loads(index_file.read_text("utf-8"))
    assert len(index["items"]) == 3
    for item in index["items"]:
        assert abs(item["duration_s"] - 12) < 1.0
        assert item["gaps"] == []
        assert (index_file.parent / f"{item['session_id']}.mp4").stat().st_size == item[
            "size_bytes"
        ]
    assert "published" in done.stdout and "index.json" in done.stdout
    # the demo shows one heal: the recorder's outage in the second session came from the DVR
    assert "recorder offline" in done.stdout
    healed = {
        item["session_id"]: json.loads(
            (index_file.parent / f"{item['session_id']}.json").read_text("utf-8")
        )["provenance"]["dvr"]
        for item in index["items"]
    }
    assert sorted(healed.values())[-1] >= 2.0, healed
