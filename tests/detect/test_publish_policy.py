"""``cut_policy`` acted on, end to end: a simulated day's recording is split and published by
the service's stages, and every published VOD record says which cut it used and why."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from streamer.api.app import create_app
from streamer.config import Settings
from streamer.errors import IllegalTransition
from streamer.pipeline import stages
from streamer.pipeline.orchestrator import Orchestrator
from streamer.pipeline.states import SessionState
from streamer.publish import open_storage
from streamer.publish.layout import index_key, record_key
from streamer.schedule.load import load_program
from streamer.simulate.program import BROADCAST_ID, EVENT_ID
from tests.conftest import TEST_TOKEN
from tests.detect.conftest import RADIUS_S, Rendered


def service(tmp_path: Path, rendered: Rendered, policy: str) -> Settings:
    """A state DB that knows the day (with ``policy``) and where its recording lies."""
    text = rendered.schedule.read_text()
    text = text.replace(
        "  timezone: Asia/Seoul\n", f"  timezone: Asia/Seoul\n  cut_policy: {policy}\n"
    )
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(text)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path / "data", cut_radius_s=RADIUS_S
    )
    store = stages.store_for(settings)
    store.sync_program(load_program(schedule))
    store.save_recording(EVENT_ID, BROADCAST_ID, dir=str(rendered.directory))
    return settings


def published(settings: Settings, session_id: str) -> dict[str, Any] | None:
    path = settings.data_dir / "public" / record_key(EVENT_ID, session_id)
    return json.loads(path.read_text()) if path.exists() else None


def index_ids(settings: Settings) -> set[str]:
    path = settings.data_dir / "public" / index_key(EVENT_ID)
    if not path.exists():
        return set()
    data = json.loads(path.read_text())
    items = data["items"] if isinstance(data, dict) else data
    return {item["session_id"] for item in items}


def off(a: str, b: datetime) -> float:
    return abs((datetime.fromisoformat(a) - b).total_seconds())


def test_auto_with_a_clear_break_publishes_the_suggested_cut(
    tmp_path: Path, slate_day: Rendered
) -> None:
    settings = service(tmp_path, slate_day, "auto")
    talk = slate_day.day.talks[1]
    stages.process_stage(settings, EVENT_ID, talk.id)

    s = stages.store_for(settings).session(EVENT_ID, talk.id)
    assert s.state == SessionState.PUBLISHED, s.reason
    record = published(settings, talk.id)
    assert record is not None
    assert record["cut"]["source"] == "suggested"
    assert record["cut"]["confidence"] >= settings.auto_cut_confidence
    assert "slate" in record["cut"]["reason"]
    assert record["needs_review"] is False
    assert off(record["start"], talk.true_start) <= 2.0
    assert off(record["end"], talk.true_end) <= 2.0
    assert off(record["start"], talk.scheduled_start) > 5.0  # not the schedule's cut
    # the DESIGN contract fields stay
    assert record["scheduled_start"] and record["sha256"] and record["version"] >= 1


def test_auto_without_a_break_publishes_the_schedule_flagged(
    tmp_path: Path, seamless_day: Rendered
) -> None:
    settings = service(tmp_path, seamless_day, "auto")
    talk = seamless_day.day.talks[1]
    stages.process_stage(settings, EVENT_ID, talk.id)

    assert stages.store_for(settings).session(EVENT_ID, talk.id).state == SessionState.PUBLISHED
    record = published(settings, talk.id)
    assert record is not None
    assert record["cut"]["source"] == "schedule"
    assert record["cut"]["confidence"] < settings.auto_cut_confidence
    assert "<" in record["cut"]["reason"]
    assert record["needs_review"] is True
    assert off(record["start"], talk.scheduled_start) <= 0.5
    assert talk.id in index_ids(settings)


def test_review_holds_until_accepted_then_publishes(tmp_path: Path, slate_day: Rendered) -> None:
    settings = service(tmp_path, slate_day, "review")
    store = stages.store_for(settings)
    talk = slate_day.day.talks[2]
    stages.process_stage(settings, EVENT_ID, talk.id)

    assert store.session(EVENT_ID, talk.id).state == SessionState.HELD
    assert published(settings, talk.id) is None
    assert talk.id not in index_ids(settings)
    assert ("session.held", {"event_id": EVENT_ID, "session_id": talk.id}) in store.take_posts()

    stages.accept_stage(settings, EVENT_ID, talk.id, "kim")
    assert store.session(EVENT_ID, talk.id).state == SessionState.PUBLISHED
    record = published(settings, talk.id)
    assert record is not None
    assert record["cut"]["source"] == "suggested"
    assert "accepted by kim" in record["cut"]["reason"]
    assert record["needs_review"] is False
    assert off(record["start"], talk.true_start) <= 2.0
    assert talk.id in index_ids(settings)

    with pytest.raises(IllegalTransition):  # accepted once; nothing is held any more
        stages.accept_stage(settings, EVENT_ID, talk.id, "lee")


def test_schedule_policy_says_so(tmp_path: Path, slate_day: Rendered) -> None:
    settings = service(tmp_path, slate_day, "schedule")
    talk = slate_day.day.talks[0]
    stages.process_stage(settings, EVENT_ID, talk.id)
    record = published(settings, talk.id)
    assert record is not None
    assert record["cut"] == {
        "source": "schedule",
        "confidence": None,
        "reason": "cut_policy schedule: the scheduled times",
    }
    assert record["needs_review"] is False


def test_the_admin_api_accepts_a_held_cut(tmp_path: Path, slate_day: Rendered) -> None:
    """The service holds every cut of a ``review`` event; POST .../accept publishes one."""
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    text = slate_day.schedule.read_text()
    (schedules / "sim.yaml").write_text(
        text.replace("  timezone: Asia/Seoul\n", "  timezone: Asia/Seoul\n  cut_policy: review\n")
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        schedules=schedules,
        cut_radius_s=RADIUS_S,
        admin_token=TEST_TOKEN,
    )
    orch = Orchestrator(settings, tick_s=0.2)
    orch.store.save_recording(EVENT_ID, BROADCAST_ID, dir=str(slate_day.directory))
    ids = [t.id for t in slate_day.day.talks]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(orch.start(), loop).result(60)
        deadline = time.monotonic() + 240  # a bound, not a pace: the day is over, all run now
        while time.monotonic() < deadline:
            states = {orch.store.session(EVENT_ID, i).state for i in ids}
            if states <= {SessionState.HELD, SessionState.FAILED}:
                break
            time.sleep(0.1)
        assert states == {SessionState.HELD}, states
        assert all(published(settings, i) is None for i in ids)

        auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
        app = create_app(settings, control=orch, storage=open_storage(settings))
        with TestClient(app) as client:
            url = f"/api/v1/admin/sessions/{ids[1]}/accept"
            r = client.post(url, json={"by": "kim"}, headers=auth)
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "published"
            again = client.post(url, headers=auth)
            assert again.status_code == 409, again.text
            unknown = client.post("/api/v1/admin/sessions/nope/accept", headers=auth)
            assert unknown.status_code == 404
            record = published(settings, ids[1])
            assert record is not None and "accepted by kim (api" in record["cut"]["reason"]
            assert index_ids(settings) == {ids[1]}  # the others stay held
            assert orch.store.session(EVENT_ID, ids[0]).state == SessionState.HELD
            two_operators_accept_at_once(orch, client, ids[2], auth)
            # status: which cut each VOD uses; the held ones (needing review) first
            rows = client.get("/api/v1/admin/status", headers=auth).json()["sessions"]
            by_id = {r["id"]: r for r in rows}
            assert by_id[ids[1]]["cut_source"] == "accepted"
            assert by_id[ids[1]]["confidence"] is not None
            assert by_id[ids[1]]["needs_review"] is False
            assert by_id[ids[0]]["needs_review"] is True
            held = [r["id"] for r in rows if r["needs_review"]]
            assert [r["id"] for r in rows[: len(held)]] == held and ids[0] in held
        entries = orch.review(ids[1])["audit"]
        assert [(e["action"], e["by"], e["source"]) for e in entries] == [
            ("accept", "kim", "api testclient"),
            ("refused", "admin", "api testclient"),  # the second accept, 409: logged only
        ]
    finally:
        asyncio.run_coroutine_threadsafe(orch.shutdown(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def two_operators_accept_at_once(
    orch: Orchestrator, client: TestClient, session_id: str, auth: dict[str, str]
) -> None:
    """Two operators, the same page (revision), different cuts, at the same moment: exactly
    one is published; the other gets 409 and changes nothing; both are in the audit log."""
    review = orch.review(session_id)
    start = datetime.fromisoformat(review["scheduled_start"])
    end = datetime.fromisoformat(review["scheduled_end"])
    cuts = {
        "kim": (start + timedelta(seconds=3), end - timedelta(seconds=2)),
        "lee": (start + timedelta(seconds=5), end - timedelta(seconds=4)),
    }
    answers: dict[str, int] = {}
    go = threading.Barrier(2)

    def accept(who: str) -> None:
        a, b = cuts[who]
        body = {"by": who, "start": a.isoformat(), "end": b.isoformat(),
                "revision": review["revision"]}  # fmt: skip
        go.wait()
        r = client.post(f"/api/v1/admin/sessions/{session_id}/accept", json=body, headers=auth)
        answers[who] = r.status_code

    threads = [threading.Thread(target=accept, args=(who,)) for who in cuts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert sorted(answers.values()) == [200, 409], answers
    winner = next(who for who, code in answers.items() if code == 200)
    loser = next(who for who in cuts if who != winner)
    record = published(settings_of(orch), session_id)
    assert record is not None
    assert datetime.fromisoformat(record["start"]) == cuts[winner][0]
    assert datetime.fromisoformat(record["end"]) == cuts[winner][1]
    entries = orch.review(session_id)["audit"]
    assert [(e["action"], e["by"]) for e in entries] == [
        ("correction", winner),
        ("refused", loser),
    ]
    assert all(e["source"] == "api testclient" for e in entries)
    assert "revision" in entries[1]["detail"]
    assert orch.review(session_id)["revision"] == review["revision"] + 1


def settings_of(orch: Orchestrator) -> Settings:
    return orch.settings
