"""Simulated days with known talk boundaries, each rendered once per test session.

Time is compressed for speed: talks of 60–90 s, breaks of 20–40 s, talks up to a minute late
against a schedule on a 10 s grid, and a search radius of two minutes (the defaults are a
real day's: 20-minute talks, up to 12 minutes late, ±15 minutes).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamer.capture.timeline import Timeline
from streamer.detect import Settings
from streamer.simulate.program import BreakKind, Day, DaySpec, plan_day, render_day
from tests.conftest import built_once

RADIUS_S = 120.0
SETTINGS = Settings(radius_s=RADIUS_S)


def spec(*kinds: BreakKind, seed: int = 7, talks: int = 3) -> DaySpec:
    return DaySpec(
        talks=talks,
        talk_s=(60.0, 90.0),
        break_s=(20.0, 40.0),
        late_s=(0.0, 60.0),
        grid_s=10.0,
        lead_s=30.0,
        tail_s=20.0,
        kinds=kinds,
        seed=seed,
    )


@dataclass(frozen=True)
class Rendered:
    day: Day
    directory: Path
    schedule: Path

    @property
    def timeline(self) -> Timeline:
        return Timeline.load(self.directory)


def _render(factory: pytest.TempPathFactory, name: str, day_spec: DaySpec) -> Rendered:
    day = plan_day(day_spec)
    # encoded once per run; each worker gets its own copy, as the service writes beside it
    shared = built_once(factory, f"detect-{name}", lambda out: render_day(day, out / "day1"))
    base = factory.mktemp(name)
    schedule = base / "schedule.yaml"
    schedule.write_text(day.schedule_yaml())
    return Rendered(day, shutil.copytree(shared / "day1", base / "day1"), schedule)


@pytest.fixture(scope="session")
def slate_day(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Breaks with the holding slate, some near-silent, some with applause."""
    kinds = (BreakKind.SLATE_QUIET, BreakKind.SLATE_APPLAUSE)
    return _render(tmp_path_factory, "slates", spec(*kinds, seed=11, talks=4))


@pytest.fixture(scope="session")
def silent_day(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Breaks of plain silence: the stage camera stays on, no slate."""
    return _render(tmp_path_factory, "silence", spec(BreakKind.SILENCE, seed=5))


@pytest.fixture(scope="session")
def seamless_day(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """No breaks at all: each talk follows the last at once."""
    return _render(tmp_path_factory, "seamless", spec(BreakKind.NONE, seed=3))
