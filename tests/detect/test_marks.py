"""Operator marks: stored with who/when/where, refused when impossible, used as exact boundaries
(``streamer mark``, the admin route, ``suggest --state-marks``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streamer.api.app import create_app
from streamer.config import Settings
from streamer.detect import Edge
from streamer.errors import InvalidRequest, NotFoundError
from streamer.pipeline.marks import MarkStore
from streamer.pipeline.orchestrator import Orchestrator
from streamer.pipeline.store import Store
from streamer.publish.memory import MemoryStorage
from streamer.simulate.program import DaySpec, plan_day
from tests.conftest import TEST_TOKEN as TOKEN
from tests.detect.conftest import RADIUS_S, Rendered

DAY = plan_day(DaySpec(talks=3, talk_s=(600, 900), late_s=(0, 300), seed=2))


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.db_url)
    s.sync_program(DAY.program())
    yield s
    s.close()


def test_marks_are_kept_with_who_when_and_where(store: Store) -> None:
    marks = MarkStore(store)
    talk = DAY.talks[1]
    first = marks.add(talk.id, Edge.START, talk.true_start, by="kim", source="cli")
    later = talk.true_start + timedelta(seconds=4)
    marks.add(talk.id, Edge.START, later, by="lee", source="api 127.0.0.1")
    history = marks.history(session_id=talk.id)
    assert [(m.by, m.source) for m in history] == [("kim", "cli"), ("lee", "api 127.0.0.1")]
    assert first.made_at.tzinfo is not None
    assert marks.latest(first.event_id, talk.id)[Edge.START].at == later  # the last one wins
    assert [m.at for m in marks.in_force(first.event_id)] == [later]


def test_impossible_marks_change_nothing(store: Store) -> None:
    marks = MarkStore(store)
    talk = DAY.talks[0]
    with pytest.raises(NotFoundError):
        marks.add("nope", Edge.START, talk.true_start, by="kim", source="cli")
    with pytest.raises(InvalidRequest, match="outside broadcast"):
        marks.add(talk.id, Edge.START, DAY.recording_start - timedelta(hours=1), by="k", source="")
    with pytest.raises(InvalidRequest, match="outside broadcast"):
        marks.add(talk.id, Edge.END, DAY.recording_end + timedelta(hours=2), by="k", source="")
    with pytest.raises(InvalidRequest, match="no UTC offset"):
        marks.add(talk.id, Edge.START, talk.true_start.replace(tzinfo=None), by="k", source="")
    marks.add(talk.id, Edge.START, talk.true_start, by="kim", source="cli")
    with pytest.raises(InvalidRequest, match="would not come after"):
        marks.add(talk.id, Edge.END, talk.true_start, by="kim", source="cli")
    assert len(marks.history()) == 1


def test_admin_route_stores_a_mark(settings: Settings, store: Store) -> None:
    orchestrator = Orchestrator(settings)
    app = create_app(settings, control=orchestrator, storage=MemoryStorage())
    talk = DAY.talks[2]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app) as client:
        local = talk.true_start.astimezone(DAY.program().event.tz).replace(tzinfo=None)
        r = client.post(
            f"/api/v1/admin/sessions/{talk.id}/mark",
            json={"edge": "start", "at": local.isoformat(), "by": "park"},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["by"] == "park" and body["source"] == "api testclient"
        assert datetime.fromisoformat(body["at"]) == talk.true_start
        bad = client.post(
            f"/api/v1/admin/sessions/{talk.id}/mark",
            json={"edge": "end", "at": talk.true_start.isoformat()},
            headers=auth,
        )
        assert bad.status_code == 422 and "would not come after" in bad.text
        unknown = client.post(
            "/api/v1/admin/sessions/nope/mark", json={"edge": "start"}, headers=auth
        )
        assert unknown.status_code == 404
        anonymous = client.post(f"/api/v1/admin/sessions/{talk.id}/mark", json={"edge": "end"})
        assert anonymous.status_code == 401
    assert len(MarkStore(store).history()) == 1


def streamer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer", *args],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def test_cli_mark_feeds_suggest(slate_day: Rendered, tmp_path: Path) -> None:
    """``streamer mark`` stores a mark; ``suggest --state-marks`` takes it as exact."""
    env = {**os.environ, "STREAMER_DATA_DIR": str(tmp_path / "data")}
    store = Store(Settings(_env_file=None, data_dir=tmp_path / "data").db_url)  # type: ignore[call-arg]
    store.sync_program(slate_day.day.program())
    store.close()
    talk = slate_day.day.talks[1]
    at = talk.true_start + timedelta(seconds=9)
    res = streamer(env, "mark", talk.id, "start", "--at", at.isoformat(), "--by", "kim", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["by"] == "kim"
    res = streamer(env, "mark", "nope", "start")
    assert res.returncode != 0 and "unknown session 'nope'" in res.stderr
    assert "Traceback" not in res.stderr
    res = streamer(env, "mark", talk.id, "end", "--at", "yesterday")
    assert res.returncode == 2 and "not an ISO 8601 time" in res.stderr
    res = streamer(
        env, "suggest", str(slate_day.directory), "--schedule", str(slate_day.schedule),
        "--session", talk.id, "--radius", str(RADIUS_S), "--state-marks", "--json",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)["sessions"][0]
    assert datetime.fromisoformat(s["suggested_start"]) == at
    assert {g["kind"] for g in s["signals"]} >= {"mark"}


def test_the_service_cuts_at_the_marks(slate_day: Rendered, settings: Settings) -> None:
    """The split stage takes the marks in force as the session's window."""
    from streamer.pipeline import stages

    store = stages.store_for(settings)
    program = slate_day.day.program()
    store.sync_program(program)
    store.save_recording(program.event.id, "day1", dir=str(slate_day.directory))
    talk = slate_day.day.talks[1]
    marks = MarkStore(store)
    marks.add(talk.id, Edge.START, talk.true_start, by="kim", source="cli")
    marks.add(talk.id, Edge.END, talk.true_end, by="kim", source="cli")
    vod = stages._split(settings, store, program.event.id, talk.id, force=True)
    assert datetime.fromisoformat(str(vod.start)) == talk.true_start
    assert datetime.fromisoformat(str(vod.end)) == talk.true_end
    assert abs(vod.duration_s - (talk.true_end - talk.true_start).total_seconds()) < 0.5


def test_admin_api_serves_the_suggestion(slate_day: Rendered, settings: Settings) -> None:
    """GET /api/v1/admin/sessions/{id}/suggestion: the suggest --json item, marks applied."""
    settings = settings.model_copy(update={"cut_radius_s": RADIUS_S})  # a compressed day
    orchestrator = Orchestrator(settings)
    program = slate_day.day.program()
    orchestrator.store.sync_program(program)
    talk = slate_day.day.talks[2]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    app = create_app(settings, control=orchestrator, storage=MemoryStorage())
    with TestClient(app) as client:
        path = f"/api/v1/admin/sessions/{talk.id}/suggestion"
        assert client.get(path, headers=auth).status_code == 404  # not recorded yet
        orchestrator.store.save_recording(program.event.id, "day1", dir=str(slate_day.directory))
        r = client.get(path, headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == talk.id and 0 < body["confidence"] <= 1
        start = datetime.fromisoformat(body["suggested_start"])
        assert abs((start - talk.true_start).total_seconds()) <= 2
        assert client.get("/api/v1/admin/sessions/nope/suggestion", headers=auth).status_code == 404
        assert client.get(path).status_code == 401


def test_marks_table_made_by_many_threads_at_once(settings: Settings) -> None:
    """The review page and the split stage open MarkStore together on a fresh DB."""
    import threading

    s = Store(settings.db_url)
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def open_one() -> None:
        barrier.wait()
        try:
            MarkStore(s)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s.close()
    assert failures == []
