"""Running delay: a known real start shifts the later sessions of that broadcast and day."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from streamer.config import Settings
from streamer.detect import Edge
from streamer.detect.delay import describe, predict
from streamer.pipeline.audit import Action, AuditLog
from streamer.pipeline.marks import MarkStore
from streamer.pipeline.status import status_of
from streamer.pipeline.store import Store
from streamer.simulate.program import DaySpec, plan_day

DAY = plan_day(DaySpec(talks=5, seed=3))
TZ = ZoneInfo("Asia/Seoul")
SEVEN = timedelta(minutes=7)


def test_a_known_start_shifts_later_sessions_until_the_next_known_point() -> None:
    sessions = DAY.program().sessions
    second, fourth = sessions[1], sessions[3]
    out = predict(sessions, {second.id: second.start + SEVEN}, TZ)
    assert out[sessions[0].id].delay_s == 0  # before the known point: as scheduled
    for s in sessions[1:]:
        assert out[s.id].start == s.start + SEVEN and out[s.id].end == s.end + SEVEN
        assert out[s.id].since == second.id
    assert out[second.id].known and not out[sessions[2].id].known
    both = predict(
        sessions,
        {second.id: second.start + SEVEN, fourth.id: fourth.start + timedelta(minutes=2)},
        TZ,
    )
    assert both[sessions[2].id].delay_s == 7 * 60
    assert [both[s.id].delay_s for s in sessions[3:]] == [120.0, 120.0]


def test_another_day_or_broadcast_is_not_shifted() -> None:
    first = DAY.program().sessions[0]
    tomorrow = first.model_copy(
        update={"id": "tomorrow", "start": first.start + timedelta(days=1),
                "end": first.end + timedelta(days=1)}
    )  # fmt: skip
    other_room = first.model_copy(update={"id": "room-b", "broadcast": "day1-b"})
    out = predict([first, tomorrow, other_room], {first.id: first.start + SEVEN}, TZ)
    assert out["tomorrow"].delay_s == 0 and out["room-b"].delay_s == 0


def test_describe() -> None:
    assert describe(7 * 60 + 10) == "running ~7 min late"
    assert describe(-125) == "running ~2 min early"
    assert describe(20) == "on time"


def test_status_shows_the_predicted_windows(settings: Settings, tmp_path: Path) -> None:
    """A mark 7 min late: ``status --json`` (and the admin status) predict the later windows,
    and ``streamer status`` says the day is running late."""
    store = Store(settings.db_url)
    store.sync_program(DAY.program())
    talks = DAY.talks
    MarkStore(store).add(
        talks[1].id, Edge.START, talks[1].scheduled_start + SEVEN, by="kim", source="cli"
    )
    rows = {r["id"]: r for r in status_of(store)["sessions"]}
    store.close()
    assert rows[talks[0].id]["delay_s"] == 0
    for t in talks[1:]:
        row = rows[t.id]
        assert row["delay_s"] == 420 and row["delay_text"] == "running ~7 min late"
        assert row["predicted_start"] == (t.scheduled_start + SEVEN).astimezone(TZ).isoformat()
        assert row["predicted_end"] == (t.scheduled_end + SEVEN).astimezone(TZ).isoformat()
    env = {**os.environ, "STREAMER_DATA_DIR": str(settings.data_dir), "COLUMNS": "200"}
    res = subprocess.run(
        [sys.executable, "-m", "streamer", "status"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("running ~7 min late") == len(talks) - 1


def test_a_corrected_start_is_a_known_point_too(settings: Settings) -> None:
    """A correction's start (logged with its window) sets the delay, over a mark; a reset to the
    schedule puts the day back on time."""
    store = Store(settings.db_url)
    store.sync_program(DAY.program())
    talks = DAY.talks
    event = DAY.program().event.id
    MarkStore(store).add(
        talks[1].id, Edge.START, talks[1].scheduled_start + SEVEN, by="kim", source="cli"
    )
    audit = AuditLog(store)
    start = talks[1].scheduled_start + timedelta(minutes=9)
    audit.add(event, talks[1].id, Action.CORRECTION, by="lee", source="desk", start=start)
    rows = {r["id"]: r for r in status_of(store)["sessions"]}
    assert rows[talks[3].id]["delay_s"] == 540
    assert rows[talks[3].id]["delay_label"] == {"en": "running ~9 min late", "ko": "약 9분 지연"}
    audit.add(event, talks[1].id, Action.RESET, by="lee", source="desk",
              start=talks[1].scheduled_start)  # fmt: skip
    rows = {r["id"]: r for r in status_of(store)["sessions"]}
    store.close()
    assert rows[talks[3].id]["delay_s"] == 0 and rows[talks[3].id]["delay_text"] == "on time"
