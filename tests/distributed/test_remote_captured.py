"""The distributed planner reads coverage from the raw store, and on a day running late it
waits for the session's predicted end as the embedded processor does (no PostgreSQL needed:
the check reads only the state DB's marks and the raw store's timeline)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streamer.capture.timeline import META, TIMELINE, TimelineWriter
from streamer.config import Settings
from streamer.detect import Edge
from streamer.distributed.planning import RawStore, RemoteProcessor
from streamer.pipeline.marks import MarkStore
from streamer.pipeline.processing import Hooks, Processor
from streamer.pipeline.runner import InProcessRunner
from streamer.pipeline.store import Store
from streamer.publish.memory import MemoryStorage
from streamer.schedule.load import program_from_data

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
LATE = timedelta(minutes=10)


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ship(raw: MemoryStorage, rec: Path, upto: datetime) -> None:
    """A worker's recording of two-second segments from 10:00 to ``upto``, shipped."""
    with TimelineWriter(rec) as writer:
        writer.write_meta({"event_id": "late", "broadcast_id": "main"})
        writer.start()
        seq, at = 0, T0
        while at < upto:
            writer.write_segment(0, seq, b"\0" * 100, at, 2.0, True)
            seq, at = seq + 1, at + timedelta(seconds=2)
    for name in (TIMELINE, META):
        raw.put_bytes(f"raw/late/main/{name}", (rec / name).read_bytes(),
                      content_type="application/octet-stream", cache_control="")  # fmt: skip


def noop(*_: Any) -> None:
    return None


def test_a_day_running_late_is_captured_only_to_its_predicted_end(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, pad_s=2.0)  # type: ignore[call-arg]
    store = Store(settings.db_url)
    store.sync_program(
        program_from_data(
            {
                "event": {"id": "late", "title": "Late", "timezone": "Asia/Seoul"},
                "broadcasts": [
                    {"id": "main", "url": "https://example.org/live", "start": m(0), "end": m(60)}
                ],
                "sessions": [
                    {"id": sid, "broadcast": "main", "start": m(a), "end": m(a + 20), "title": sid}
                    for sid, a in (("opening", 0), ("keynote", 20))
                ],
            }
        )
    )
    MarkStore(store).add("late.opening", Edge.START, m(0) + LATE, by="floor", source="test",
                         clock=m(0) + LATE)  # fmt: skip
    raw = MemoryStorage()
    processor = RemoteProcessor(settings, store, InProcessRunner(), Hooks(noop, noop, noop, noop))
    processor.raw = RawStore(raw, "raw", tmp_path / "cache", every_s=0)
    keynote = store.session("late", "keynote")
    # the keynote's predicted end is 10:50; the embedded processor asks the same
    assert processor.needed_until(keynote) == m(50) + timedelta(seconds=2)
    assert Processor.needed_until(processor, keynote) == processor.needed_until(keynote)

    ship(raw, tmp_path / "worker-a", m(40) + timedelta(seconds=4))  # past the scheduled end
    assert not processor.captured(keynote)  # 10 minutes of the keynote are still to come
    ship(raw, tmp_path / "worker-b", m(50) + timedelta(seconds=4))  # past the predicted end
    assert processor.captured(keynote)
