"""Stages own their transitions: a stage run by itself (as a queue worker would run it) leaves
its whole outcome in the store: state, attempts, the retry policy's next try, the webhook
event. And the schema upgrade that brought ``next_try_at``."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from streamer.config import Settings
from streamer.pipeline import stages
from streamer.pipeline.retry import POLICY
from streamer.pipeline.states import BroadcastState, SessionState
from streamer.pipeline.store import SCHEMA_VERSION, Store
from streamer.schedule.load import load_program
from streamer.timeutil import iso, now


def _settings(tmp_path: Path) -> Settings:
    t0 = now() - timedelta(hours=2)
    b_end, s_end = iso(t0 + timedelta(hours=1)), iso(t0 + timedelta(minutes=30))
    (tmp_path / "fest.yaml").write_text(
        f"""
event: {{id: fest, title: Fest, timezone: UTC}}
broadcasts:
  - {{id: main, url: "https://example.org/m.m3u8", start: "{iso(t0)}", end: "{b_end}"}}
sessions:
  - {{id: talk, broadcast: main, start: "{iso(t0)}", end: "{s_end}", title: T}}
""",
        "utf-8",
    )
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    stages.store_for(settings).sync_program(load_program(tmp_path / "fest.yaml"))
    return settings


def test_a_failed_split_records_attempts_next_try_and_webhook(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    store = stages.store_for(settings)
    store.set_broadcast_state("fest", "main", BroadcastState.WATCHING)  # more may still come

    before = now()
    assert stages.process_stage(settings, "fest", "talk") is None  # nothing to act on
    s = store.session("fest", "talk")
    assert s.state == SessionState.FAILED and "never recorded" in (s.reason or "")
    assert s.attempts == 1
    assert s.next_try_at is not None
    assert before + POLICY.backoff(1) <= s.next_try_at <= now() + POLICY.backoff(1)
    assert store.take_posts() == [
        ("session.failed", {"event_id": "fest", "session_id": "talk", "reason": s.reason})
    ]
    assert store.take_posts() == []  # taken once

    # once the broadcast is over, a missing recording stays missing: final, no next try
    store.set_broadcast_state("fest", "main", BroadcastState.ENDED)
    stages.process_stage(settings, "fest", "talk")
    s = store.session("fest", "talk")
    assert s.state == SessionState.FAILED
    assert s.attempts == POLICY.max_attempts and s.next_try_at is None
    assert POLICY.next_try(s.attempts, s.next_try_at, s.updated_at) is None


def test_a_version_1_db_gains_next_try_at(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    Store(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:  # back to version 1: no next_try_at yet
        conn.execute("ALTER TABLE sessions DROP COLUMN next_try_at")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store = Store(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    store.close()
    assert "next_try_at" in columns
    assert version == (str(SCHEMA_VERSION),) and SCHEMA_VERSION == 4


def test_a_version_2_db_gains_the_events_cut_policy(tmp_path: Path) -> None:
    settings = _settings(tmp_path)  # a program synced into data/streamer.db
    db = Path(settings.db_url.partition(":///")[2])
    stages.store_for(settings).close()
    stages._store.cache_clear()
    with sqlite3.connect(db) as conn:  # back to version 2: events without cut_policy
        conn.execute("ALTER TABLE events DROP COLUMN cut_policy")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    store = Store(f"sqlite:///{db}")
    assert store.program("fest").event.cut_policy == "schedule"
    store.close()
    with sqlite3.connect(db) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)


def test_a_broadcasts_conference_day_survives_the_state_db(tmp_path: Path) -> None:
    """A late-night broadcast the schedule files under the evening before: the program rebuilt
    from the DB (what every stage uses) keeps that day, so its VODs do too."""
    (tmp_path / "night.yaml").write_text(
        """
event: {id: night, title: Night, timezone: Europe/Berlin}
broadcasts:
  - {id: saal1, start: "2014-12-28T11:00+01:00", end: "2014-12-29T02:15+01:00", day: 2014-12-28}
  - {id: early, start: "2014-12-29T05:00+01:00", end: "2014-12-29T06:00+01:00", day: 2014-12-28}
sessions:
  - {id: late, broadcast: saal1, title: L,
     start: "2014-12-29T01:00+01:00", end: "2014-12-29T02:00+01:00"}
  - {id: dawn, broadcast: early, title: D,
     start: "2014-12-29T05:00+01:00", end: "2014-12-29T06:00+01:00"}
""",
        "utf-8",
    )
    program = load_program(tmp_path / "night.yaml")
    db = tmp_path / "s.db"
    store = Store(f"sqlite:///{db}")
    store.sync_program(program)
    again = store.program("night")
    store.close()
    days = {s.id: again.session_day(s).isoformat() for s in again.sessions}
    # "dawn" starts after 04:00, so only the stored day puts it on the 28th
    assert days == {"late": "2014-12-28", "dawn": "2014-12-28"}
    assert days == {s.id: program.session_day(s).isoformat() for s in program.sessions}


def test_a_version_3_db_gains_the_broadcasts_day(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    Store(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:  # back to version 3: broadcasts without day
        conn.execute("ALTER TABLE broadcasts DROP COLUMN day")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    Store(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(broadcasts)")}
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert "day" in columns and version == (str(SCHEMA_VERSION),)
