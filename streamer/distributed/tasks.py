"""Stage jobs: each a procrastinate task that runs one stage function with its ids.

The worker's Settings reach a task through the job context (``additional_context``), so a job
carries ids only. Names are stable: they are stored in queued jobs.
"""

from __future__ import annotations

from typing import Any

from procrastinate import App, JobContext

from streamer.config import Settings
from streamer.errors import ConfigError

SPLIT = "streamer.split_session"
PUBLISH = "streamer.publish_session"


def settings_of(context: JobContext) -> Settings:
    settings = context.additional_context.get("settings")
    if not isinstance(settings, Settings):
        raise ConfigError("a stage job ran outside `streamer worker` (no settings in its context)")
    return settings


def split_session(context: JobContext, event_id: str, session_id: str, force: bool = False) -> str:
    from streamer.pipeline import stages

    record = stages.split_stage(settings_of(context), event_id, session_id, force)
    return record.id


def publish_session(context: JobContext, event_id: str, session_id: str) -> str:
    from streamer.pipeline import stages

    record = stages.publish_stage(settings_of(context), event_id, session_id)
    return record.id


def register(app: App) -> None:
    """Register every stage task on ``app`` (each App gets its own task objects)."""
    specs: list[tuple[Any, str, str]] = [
        (split_session, SPLIT, "split"),
        (publish_session, PUBLISH, "publish"),
    ]
    for fn, name, queue in specs:
        app.task(name=name, queue=queue, pass_context=True)(fn)
