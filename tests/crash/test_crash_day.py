"""Crash anywhere, lose nothing: the compressed demo day with ``streamer run`` SIGKILLed (its
whole process group) at seeded random instants and restarted, against an uninterrupted run
of the same day (``harness.py``). CI runs one seed with 5 kills on local storage and one on
moto S3; ``scripts/crash.sh`` runs the full 20 kills on more seeds.

Nothing here is timed: the seed fixes the schedule, the verdict is on the result (the VOD
set, frames, catalog documents, objects, states and webhooks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crash.harness import (
    DayResult,
    DayShape,
    KillPlan,
    S3Target,
    Verdict,
    compare,
    examine,
    media_content,
    moto_bucket,
    run_day,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
SHAPE = DayShape()
KILLS = 5
SEEDS = {"local": 1515, "s3": 2026}


class Reference:
    """The uninterrupted day, run once per module beside the first crashed run."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.content = media_content(work / "media", SHAPE)
        self.result: DayResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = run_day("reference", self.work / "ref", self.content, SHAPE, None)
        except BaseException as exc:  # handed to the test that waits for it
            self.error = exc

    def verdict(self) -> Verdict:
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return examine(self.result, self.work)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return Reference(tmp_path_factory.mktemp("crash-reference"))


@pytest.fixture
def s3() -> Iterator[S3Target]:
    with moto_bucket() as target:
        yield target


def crashed_day(storage: str, reference: Reference, tmp_path: Path, s3: S3Target | None) -> None:
    plan = KillPlan.draw(SEEDS[storage], KILLS)
    print(f"{storage} {plan.describe()}")
    label = f"{storage}-{plan.seed}"
    result = run_day(label, tmp_path / label, reference.content, SHAPE, plan, s3=s3)
    got = examine(result, tmp_path)
    ref = reference.verdict()
    assert ref.problems == [], f"the uninterrupted day itself: {ref.problems}"
    assert result.kills_done == KILLS
    problems = got.problems + compare(ref, got)
    assert problems == [], f"{plan.describe()} (logs: {result.run_dir / 'logs'})"
    # the reference holds the issue's own figure: a 20 s session at 25 fps is 500 frames
    assert {f.count for f in ref.frames.values()} == {SHAPE.session_s * 25}


def test_killed_anywhere_the_day_ends_as_if_never_killed_local(
    reference: Reference, tmp_path: Path
) -> None:
    crashed_day("local", reference, tmp_path, None)


def test_killed_anywhere_the_day_ends_as_if_never_killed_s3(
    reference: Reference, tmp_path: Path, s3: S3Target
) -> None:
    crashed_day("s3", reference, tmp_path, s3)
