"""The schedule's tick on moto: a model's batch.schedule starts one batch per firing, and only when it fired."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from functional_helpers import pass_state_machine

from mlcore.batch import NO_CHAMPION, scheduled_batch_id, start_scheduled_batches
from mlcore.catalog import ScheduledBatch, ScheduledBatchResult
from mlcore.errors import TransientError
from mlcore.registry import CHAMPION, ModelVersion, Registry, VersionStatus
from mlcore.spec import ModelSpec, parse_spec

CHAMPION_MADE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NIGHTLY = "cron(0 2 * * ? *)"


@pytest.fixture
def batch_machine(aws: None, runs_stay_running: None) -> tuple[Any, str]:
    """A stand-in for the batch-scoring state machine on moto's Step Functions, whose executions stay RUNNING
    until stopped (moto's executing engine, which the local target turns on, lets a duplicate name through)."""
    return pass_state_machine("batch-scoring")


def scheduled(registry: Registry, churn_spec: ModelSpec, name: str, schedule: str, *, champion: bool = True) -> None:
    batch = {"schedule": schedule, "input": "s3://data-bucket/in/", "output": "s3://data-bucket/out/"}
    registry.put_spec(
        parse_spec({**churn_spec.model_dump(mode="json", exclude_none=True), "name": name, "batch": batch}),
        actor="test",
    )
    if not champion:
        return
    version = registry.register_version(
        ModelVersion(
            model_name=name,
            run_id="seed",
            version=registry.allocate_version(name),
            status=VersionStatus.APPROVED,
            created_at=CHAMPION_MADE.isoformat(),
            artifacts={},
            metrics={},
            signature=[],
        ),
        actor="test",
    )
    registry.set_alias(name, CHAMPION, version.version, actor="test")


def tick(registry: Registry, batch_machine: tuple[Any, str], at: datetime) -> ScheduledBatchResult:
    sfn, arn = batch_machine
    return start_scheduled_batches(registry, sfn, arn, now=at)


def started(batch_machine: tuple[Any, str]) -> list[tuple[str, dict[str, Any]]]:
    sfn, arn = batch_machine
    return [
        (e["name"], json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]))
        for e in sfn.list_executions(stateMachineArn=arn)["executions"]
    ]


def by_model(result: ScheduledBatchResult) -> dict[str, ScheduledBatch]:
    return {b.model_name: b for b in result.batches}


def test_a_nightly_schedule_starts_one_batch_at_its_time(
    registry: Registry, churn_spec: ModelSpec, batch_machine: tuple[Any, str]
) -> None:
    # GIVEN churn scored nightly at 02:00, its champion made at noon the day before
    scheduled(registry, churn_spec, "churn", NIGHTLY)
    # WHEN the platform ticks at 01:59, then at 02:00, then at 02:05
    night = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    before = tick(registry, batch_machine, night - timedelta(minutes=1))
    at_two = tick(registry, batch_machine, night)
    after = tick(registry, batch_machine, night + timedelta(minutes=5))
    # THEN one batch started, at 02:00, with the spec's input and output, named by the model and the firing
    assert by_model(before)["churn"].started is False and started(batch_machine)[:0] == []
    fired = by_model(at_two)["churn"]
    assert (fired.started, fired.fired_at) == (True, night.isoformat())
    assert fired.batch_id == scheduled_batch_id("churn", night) and fired.batch_id.startswith("20260302T020000Z-")
    request = {"model_name": "churn", "chunk_mb": 256, "lambda_mb": 64, "trigger": "schedule"}
    assert started(batch_machine) == [(fired.batch_id, request)]
    assert by_model(after)["churn"].started is False
    assert registry.get_monitor_state("churn").batch_served_at == night.isoformat()
    [audit] = [r for r in registry.audit_trail("churn") if r.action == "batch_started"]
    assert (audit.actor, audit.details["batch_id"], audit.details["schedule"]) == ("schedule", fired.batch_id, NIGHTLY)


def test_a_rate_counts_from_the_champion_then_from_its_last_firing(
    registry: Registry, churn_spec: ModelSpec, batch_machine: tuple[Any, str]
) -> None:
    # GIVEN churn scored daily, its champion made at noon
    scheduled(registry, churn_spec, "churn", "rate(1 day)")
    day, lag, second = timedelta(days=1), timedelta(minutes=3), timedelta(seconds=1)

    def at(moment: datetime) -> ScheduledBatch:
        return by_model(tick(registry, batch_machine, moment))["churn"]

    # WHEN the platform ticks around each day's noon, one tick three minutes late
    # THEN a batch starts at each day's noon exactly, the late tick's batch named by the firing it serves
    assert at(CHAMPION_MADE + day - second).started is False
    late = at(CHAMPION_MADE + day + lag)
    assert (late.started, late.fired_at) == (True, (CHAMPION_MADE + day).isoformat())
    assert at(CHAMPION_MADE + 2 * day - second).started is False
    assert at(CHAMPION_MADE + 2 * day).started is True
    assert len(started(batch_machine)) == 2


@pytest.mark.parametrize("first_batch", ["running", "finished"])
def test_a_redelivered_firing_starts_no_second_batch(
    registry: Registry, churn_spec: ModelSpec, batch_machine: tuple[Any, str], first_batch: str
) -> None:
    # GIVEN the 02:00 batch started (and is still running, or is over)
    scheduled(registry, churn_spec, "churn", NIGHTLY)
    night = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    tick(registry, batch_machine, night)
    sfn, arn = batch_machine
    if first_batch == "finished":
        [execution] = sfn.list_executions(stateMachineArn=arn)["executions"]
        sfn.stop_execution(executionArn=execution["executionArn"])
    # WHEN a second tick serves the same firing again (its record of the served firing lost, as in a race)
    registry.update_monitor_state("churn", lambda state: state.model_copy(update={"batch_served_at": None}))
    again = by_model(tick(registry, batch_machine, night + timedelta(minutes=5)))["churn"]
    # THEN the batch's name, made of the model and the firing, lets Step Functions refuse the duplicate
    # (a running one with the same name and input is returned as it is, as AWS does)
    assert len(started(batch_machine)) == 1
    assert again.batch_id == scheduled_batch_id("churn", night) and again.error is None
    if first_batch == "finished":
        assert (again.started, again.reason) == (False, "already started")


def test_a_model_without_a_champion_or_a_schedule_starts_nothing(
    registry: Registry, churn_spec: ModelSpec, batch_machine: tuple[Any, str]
) -> None:
    scheduled(registry, churn_spec, "churn-new", NIGHTLY, champion=False)
    registry.put_spec(churn_spec, actor="test")  # churn: no batch.schedule
    result = tick(registry, batch_machine, datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    assert [(b.model_name, b.started, b.reason) for b in result.batches] == [("churn-new", False, NO_CHAMPION)]
    assert started(batch_machine) == []


def test_a_retired_model_s_schedule_starts_no_batch(
    registry: Registry, churn_spec: ModelSpec, batch_machine: tuple[Any, str]
) -> None:
    scheduled(registry, churn_spec, "churn-old", NIGHTLY)
    spec = registry.get_spec("churn-old")
    registry.put_spec(spec.model_copy(update={"retired": True}), actor="test")
    result = tick(registry, batch_machine, datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    assert (result.batches, started(batch_machine)) == ([], [])  # no firing used up, nothing audited, no alert
    registry.put_spec(spec, actor="test")  # back: its next firing starts it
    result = tick(registry, batch_machine, datetime(2026, 3, 3, 2, 0, tzinfo=UTC))
    assert [(b.model_name, b.started) for b in result.batches] == [("churn-old", True)]


def test_a_batch_that_cannot_start_gives_its_firing_back_and_fails_the_tick(
    registry: Registry, churn_spec: ModelSpec, batch_machine: tuple[Any, str]
) -> None:
    # GIVEN two nightly models, one served last night
    scheduled(registry, churn_spec, "churn", NIGHTLY)
    scheduled(registry, churn_spec, "upsell", NIGHTLY)
    last_night = datetime(2026, 3, 2, 2, 0, tzinfo=UTC).isoformat()
    registry.update_monitor_state("churn", lambda state: state.model_copy(update={"batch_served_at": last_night}))
    sfn, arn = batch_machine
    # WHEN tonight's tick cannot start the batches (the state machine is gone)
    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(TransientError, match=r"churn: StateMachineDoesNotExist.*; upsell: StateMachineDoesNotExist"):
        tick(registry, batch_machine, datetime(2026, 3, 3, 2, 0, tzinfo=UTC))
    # THEN each model's schedule is as it was, so the retried tick starts them
    assert registry.get_monitor_state("churn").batch_served_at == last_night
    assert registry.get_monitor_state("upsell").batch_served_at is None
