"""How the CLI waits for an execution: each state entered once, and a word every STILL_EVERY s in a long one."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from infra import operations
from infra.operations import POLL_MOST, STILL_EVERY, Platform, Resources


class Clock:
    """time.monotonic and time.sleep of a wait: each sleep moves the clock, and the execution with it."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Execution:
    """A Step Functions client whose execution enters Validate, then Train for `train_seconds`, then ends."""

    def __init__(self, clock: Clock, train_seconds: float) -> None:
        self.clock, self.train_seconds = clock, train_seconds

    def _states(self) -> list[str]:
        return ["Validate"] if self.clock.now < 1 else ["Validate", "Train"]

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        done = self.clock.now >= 1 + self.train_seconds
        return {"executionArn": executionArn, "status": "SUCCEEDED" if done else "RUNNING"}

    def get_paginator(self, _: str) -> Any:
        events = [{"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": s}} for s in self._states()]
        return type("Pages", (), {"paginate": lambda _, **__: [{"events": events}]})()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(operations.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(operations.time, "sleep", clock.sleep)
    return clock


def platform_of(clock: Clock, train_seconds: float) -> Platform:
    resources = Resources(*(["x"] * 7), batch_state_machine=None, alerts_topic=None, api_url=None)
    return Platform(resources, client=lambda service: Execution(clock, train_seconds))


# a state is looked at every POLL_MOST s at the most: the word comes within that of STILL_EVERY
@pytest.mark.parametrize(
    ("train_seconds", "told"),
    [(STILL_EVERY - 1, 0), (STILL_EVERY + POLL_MOST + 1, 1), (3 * (STILL_EVERY + POLL_MOST) + 1, 3)],
)
def test_a_long_state_is_told_every_so_often_and_a_short_one_never(
    clock: Clock, train_seconds: float, told: int
) -> None:
    steps: list[str] = []
    still: list[tuple[str, float]] = []
    execution = platform_of(clock, train_seconds).wait(
        "arn", on_step=steps.append, on_still=lambda state, seconds: still.append((state, seconds)), timeout=None
    )
    assert execution["status"] == "SUCCEEDED" and steps == ["Validate", "Train"]
    assert len(still) == told and all(state == "Train" for state, _ in still)
    # told once STILL_EVERY has passed, within the pause between two looks (which grows to POLL_MOST)
    assert all(
        STILL_EVERY * (n + 1) <= seconds < STILL_EVERY * (n + 1) + (n + 1) * POLL_MOST
        for n, (_, seconds) in enumerate(still)
    )


def test_a_wait_without_a_limit_outlasts_the_default_one(clock: Clock) -> None:
    # a search of hours: the CLI waits it out (the default limit of other waits is 600 s)
    assert platform_of(clock, 4000).wait("arn", timeout=None)["status"] == "SUCCEEDED"
    clock.now = 0.0
    with pytest.raises(TimeoutError):
        platform_of(clock, 4000).wait("arn")


def test_a_long_state_is_looked_at_less_often_and_a_new_one_at_once(clock: Clock) -> None:
    looks: list[float] = []
    platform = platform_of(clock, 60)
    execution = platform.client("stepfunctions")
    describe = execution.describe_execution

    def counted(executionArn: str) -> dict[str, Any]:
        looks.append(clock.now)
        return describe(executionArn)

    execution.describe_execution = counted
    assert platform.wait("arn", on_still=lambda *_: None, timeout=None)["status"] == "SUCCEEDED"
    gaps = [b - a for a, b in itertools.pairwise(looks)]
    assert max(gaps) == POLL_MOST  # a minute in Train: looked at every 2 s at the most, not every 0.25 s
    assert len(looks) < 60  # where a look every 0.25 s made 244
