"""``cut_policy`` per event in the schedule YAML: default, accepted values, a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.errors import ScheduleError
from streamer.schedule.dump import dump_program
from streamer.schedule.load import load_program
from streamer.schedule.model import CutPolicy
from streamer.simulate.program import DaySpec, plan_day


def schedule(tmp_path: Path, policy: str | None) -> Path:
    text = plan_day(DaySpec(talks=2, seed=1)).schedule_yaml()
    if policy is not None:
        text = text.replace(
            "  timezone: Asia/Seoul\n", f"  timezone: Asia/Seoul\n  cut_policy: {policy}\n"
        )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_default_is_schedule(tmp_path: Path) -> None:
    assert load_program(schedule(tmp_path, None)).event.cut_policy is CutPolicy.SCHEDULE


@pytest.mark.parametrize("policy", ["schedule", "auto", "review"])
def test_each_policy_loads_and_round_trips(tmp_path: Path, policy: str) -> None:
    program = load_program(schedule(tmp_path, policy))
    assert program.event.cut_policy == CutPolicy(policy)
    again = tmp_path / "again.yaml"
    again.write_text(dump_program(program))
    assert load_program(again).event.cut_policy == CutPolicy(policy)


def test_unknown_policy_is_a_line_numbered_error(tmp_path: Path) -> None:
    path = schedule(tmp_path, "sometimes")
    with pytest.raises(ScheduleError) as err:
        load_program(path)
    assert any(
        p.startswith(f"{path}:5:")
        and "cut_policy of event must be one of schedule, auto, review" in p
        for p in err.value.problems
    ), err.value.problems
