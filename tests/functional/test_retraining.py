"""The request-retraining step on moto: every trigger, replays, nothing new, cool-down, daily cap, debounce."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from functional_helpers import pass_state_machine

from mlcore.catalog import RetrainingDecision, RetrainingRequest, RetrainingResult
from mlcore.data import data_fingerprint
from mlcore.monitoring import NOTHING_NEW, request_retraining, retrain_execution_name
from mlcore.registry import CHAMPION, ModelVersion, Registry, VersionStatus
from mlcore.spec import ModelSpec, parse_spec
from mlcore.storage import ObjectStore

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REGION = "us-east-1"
DATASET = "datasets/churn/20250301T000000000000Z.csv"


@pytest.fixture
def state_machine(aws: None) -> tuple[Any, str]:
    """A trivial training state machine on moto's Step Functions."""
    return pass_state_machine("training")


def spec_with(churn_spec: ModelSpec, **retrain: Any) -> ModelSpec:
    return parse_spec({**churn_spec.model_dump(mode="json", exclude_none=True), "retrain": retrain})


@pytest.fixture
def setup(
    registry: Registry, data: ObjectStore, capture: ObjectStore, churn_spec: ModelSpec, state_machine: tuple[Any, str]
) -> Callable[..., RetrainingResult]:
    """`ask(trigger, event_id, at=..., event_at=..., **fields)`: a request to the step, as its function makes it."""
    registry.put_spec(churn_spec, actor="test")
    data.put(DATASET, b"tenure_months,churned\n1,yes\n")
    sfn, arn = state_machine

    def ask(
        trigger: str, event_id: str, at: datetime = NOW, event_at: datetime | None = None, **fields: Any
    ) -> RetrainingResult:
        fields.setdefault("model_name", None if trigger in ("schedule", "new_data") else "churn")
        if event_at is not None:  # when the event happened (EventBridge's time); `at` is when the step runs
            fields["at"] = event_at.isoformat()
        request = RetrainingRequest(trigger=trigger, event_id=event_id, **fields)
        return request_retraining(
            request, registry=registry, data=data, capture=capture, sfn=sfn, state_machine_arn=arn, now=at
        )

    return ask


def one(result: RetrainingResult) -> RetrainingDecision:
    [decision] = result.decisions
    return decision


def executions(state_machine: tuple[Any, str]) -> list[dict[str, Any]]:
    sfn, arn = state_machine
    return sfn.list_executions(stateMachineArn=arn)["executions"]


def skipped(registry: Registry) -> list[str]:
    return [r.details["why"] for r in registry.audit_trail("churn") if r.action == "retrain_skipped"]


def champion_trained_on(
    registry: Registry, fingerprint: str, created_at: datetime = NOW - timedelta(days=2), run_id: str = "seed"
) -> None:
    version = registry.register_version(
        ModelVersion(
            model_name="churn",
            run_id=run_id,
            version=registry.allocate_version("churn"),
            status=VersionStatus.APPROVED,
            created_at=created_at.isoformat(),
            artifacts={},
            metrics={},
            signature=[],
            data_fingerprint=fingerprint,
        ),
        actor="test",
    )
    registry.set_alias("churn", CHAMPION, version.version, actor="test")


# -- drift and degradation ---------------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["drift", "degradation"])
def test_a_monitor_finding_starts_one_run_named_after_its_check(
    setup: Callable[..., RetrainingResult], registry: Registry, state_machine: tuple[Any, str], trigger: str
) -> None:
    decision = one(setup(trigger, "20250301T120000", reason="3 of 7 features drifted"))
    assert decision.started
    assert decision.execution_name == retrain_execution_name("churn", trigger, "20250301T120000")
    [execution] = executions(state_machine)
    described = state_machine[0].describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {
        "model_name": "churn",
        "dataset_uri": None,
        "reason": f"{trigger}: 3 of 7 features drifted",
        "trigger": trigger,
        "event_id": "20250301T120000",
        "force": False,
        "started_by": "",  # the platform started it: no principal
    }
    [started] = [r for r in registry.audit_trail("churn") if r.action == "retrain_started"]
    assert started.details["trigger"] == trigger


@pytest.mark.parametrize(
    ("switch", "trigger"), [("on_drift", "drift"), ("on_degradation", "degradation"), ("on_new_data", "new_data")]
)
def test_a_trigger_the_spec_turns_off_starts_nothing(  # noqa: PLR0917 (pytest fixtures)
    setup: Callable[..., RetrainingResult],
    registry: Registry,
    churn_spec: ModelSpec,
    state_machine: tuple[Any, str],
    switch: str,
    trigger: str,
) -> None:
    registry.put_spec(spec_with(churn_spec, **{switch: False}, debounce_minutes=0), actor="test")
    decision = one(setup(trigger, "e1", key=DATASET))
    assert (decision.started, decision.reason) == (False, f"retrain.{switch} is off for 'churn'")
    assert executions(state_machine) == []


@pytest.mark.parametrize("trigger", ["drift", "degradation", "new_data", "schedule"])
def test_a_retired_model_is_retrained_by_no_trigger(
    setup: Callable[..., RetrainingResult],
    registry: Registry,
    churn_spec: ModelSpec,
    state_machine: tuple[Any, str],
    trigger: str,
) -> None:
    every = {"on_new_data": True, "on_drift": True, "on_degradation": True, "debounce_minutes": 0}
    switched_on = spec_with(churn_spec, **every, schedule="rate(1 hour)")
    registry.put_spec(switched_on.model_copy(update={"retired": True}), actor="test")
    result = setup(trigger, "e1", key=DATASET)
    if trigger == "schedule":  # a tick is for every model due: a retired one is not due, and nothing is audited
        assert (result.decisions, skipped(registry)) == ([], [])
    else:
        assert (one(result).started, one(result).reason) == (False, "'churn' is retired")
    assert executions(state_machine) == []
    # the same model, not retired: each trigger starts its run (the guard above is what stopped it)
    registry.put_spec(switched_on, actor="test")
    assert one(setup(trigger, "e2", key=DATASET)).started


def test_a_replayed_event_starts_nothing(
    setup: Callable[..., RetrainingResult], registry: Registry, state_machine: tuple[Any, str]
) -> None:
    assert one(setup("drift", "c1")).started
    # the same event again, after the cool-down and under the cap: still nothing
    replay = one(setup("drift", "c1", at=NOW + timedelta(hours=7)))
    assert (replay.started, replay.reason) == (False, "event c1 was already handled")
    assert len(executions(state_machine)) == 1
    assert skipped(registry) == ["event c1 was already handled"]


def test_an_execution_that_already_exists_takes_no_slot(
    setup: Callable[..., RetrainingResult], registry: Registry, state_machine: tuple[Any, str]
) -> None:
    # GIVEN the execution was started, but the monitor state was lost (the function timed out before writing it)
    sfn, arn = state_machine
    sfn.start_execution(stateMachineArn=arn, name=retrain_execution_name("churn", "drift", "c1"), input="{}")
    decision = one(setup("drift", "c1"))
    assert (decision.started, decision.reason.startswith("execution churn-drift-c1-")) == (False, True)
    assert registry.get_monitor_state("churn").retrains == []
    assert one(setup("drift", "c2")).started  # no cool-down was taken


# -- cool-down and daily cap ---------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "started"), [(5.99, False), (6.0, True)])
def test_the_cool_down_ends_exactly_after_its_hours(
    setup: Callable[..., RetrainingResult], hours: float, started: bool
) -> None:
    assert one(setup("drift", "c1")).started
    later = one(setup("drift", "c2", at=NOW + timedelta(hours=hours)))
    assert later.started is started
    if not started:
        assert later.reason.startswith("cool-down: last retraining started 2025-03-01T12:00:00+00:00")


def test_the_daily_cap_counts_starts_of_the_last_24_hours(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec
) -> None:
    registry.put_spec(spec_with(churn_spec, cooldown_hours=0, max_per_day=2), actor="test")
    assert one(setup("drift", "c1")).started
    assert one(setup("drift", "c2", at=NOW + timedelta(hours=1))).started
    capped = one(setup("drift", "c3", at=NOW + timedelta(hours=23, minutes=59)))
    assert (capped.started, capped.reason) == (False, "daily cap of 2 retrainings reached")
    assert one(setup("drift", "c4", at=NOW + timedelta(hours=24))).started  # the first start aged out


def test_eight_concurrent_requests_start_no_more_runs_than_the_cap(  # noqa: PLR0917 (pytest fixtures)
    setup: Callable[..., RetrainingResult],
    registry: Registry,
    data: ObjectStore,
    capture: ObjectStore,
    churn_spec: ModelSpec,
    moto_server: str,
    state_machine: tuple[Any, str],
) -> None:
    # GIVEN a model that may retrain twice a day, without cool-down
    registry.put_spec(spec_with(churn_spec, cooldown_hours=0, max_per_day=2), actor="test")

    def request(index: int) -> RetrainingDecision:
        # each request in its own function instance: its own clients, over HTTP to one embedded AWS
        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION, endpoint_url=moto_server)

        result = request_retraining(
            RetrainingRequest(trigger="drift", event_id=f"check-{index}", model_name="churn"),
            registry=Registry(registry.table, client("dynamodb")),
            data=ObjectStore(data.bucket, client("s3")),
            capture=ObjectStore(capture.bucket, client("s3")),
            sfn=client("stepfunctions"),
            state_machine_arn=state_machine[1],
            now=NOW,
        )
        return one(result)

    # WHEN 8 drift checks ask at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        decisions = list(pool.map(request, range(8)))
    # THEN exactly the cap's two runs start, and the six others say why not
    assert sum(d.started for d in decisions) == 2
    assert len(executions(state_machine)) == 2
    assert sorted(d.reason for d in decisions if not d.started) == ["daily cap of 2 retrainings reached"] * 6
    assert len(registry.get_monitor_state("churn").retrains) == 2


# -- nothing new to learn ------------------------------------------------------------------------


def test_a_retraining_on_the_champions_own_data_is_skipped(
    setup: Callable[..., RetrainingResult], registry: Registry, data: ObjectStore, state_machine: tuple[Any, str]
) -> None:
    # GIVEN a champion trained on exactly the newest dataset (no feedback)
    champion_trained_on(registry, data_fingerprint(data.sha256_of(DATASET)))
    decision = one(setup("drift", "c1"))
    assert (decision.started, decision.reason) == (False, NOTHING_NEW)
    assert executions(state_machine) == []
    assert registry.get_monitor_state("churn").retrains == []  # no slot taken
    # WHEN a new dataset lands, the same trigger starts a run
    data.put("datasets/churn/20250302T000000000000Z.csv", b"tenure_months,churned\n2,no\n")
    assert one(setup("drift", "c2")).started


def test_data_a_version_rolled_back_from_learned_is_not_trained_again_by_a_trigger(
    setup: Callable[..., RetrainingResult], registry: Registry, data: ObjectStore, state_machine: tuple[Any, str]
) -> None:
    # GIVEN v2 trained on the newest dataset (a bad one) and rolled back from: v3, trained on good data, is champion
    champion_trained_on(registry, "good-data", run_id="run-1")
    champion_trained_on(registry, data_fingerprint(data.sha256_of(DATASET)), run_id="run-2")
    champion_trained_on(registry, "good-data-again", run_id="run-3")
    # WHEN a retraining that waited out its debounce on that drop asks again
    decision = one(setup("drift", "c1"))
    # THEN it is skipped: it would train v2 again, and the gate (not worse than v3) promote it again
    assert (decision.started, decision.reason) == (
        False,
        "nothing new to learn: version 2 (approved, not the champion) learned from exactly this data; "
        "`mlops pipeline run churn --force` trains on it again",
    )
    assert executions(state_machine) == []
    # AND data no version learned from starts a run
    data.put("datasets/churn/20250302T000000000000Z.csv", b"tenure_months,churned\n2,no\n")
    assert one(setup("drift", "c2")).started


def test_new_labelled_feedback_is_something_new(  # noqa: PLR0917 (pytest fixtures)
    setup: Callable[..., RetrainingResult],
    registry: Registry,
    data: ObjectStore,
    capture: ObjectStore,
    churn_spec: ModelSpec,
    capture_request: Callable[..., int],
) -> None:
    from infra.local.example_data import churn_instances
    from mlcore.serving import record_feedback

    now = datetime.now(UTC)  # feedback is stored under the day it arrives; served after the dataset was written
    spec = spec_with(churn_spec, include_feedback=True)
    registry.put_spec(spec, actor="test")
    champion_trained_on(registry, data_fingerprint(data.sha256_of(DATASET)), created_at=now - timedelta(days=1))
    # served rows without labels teach nothing
    capture_request(capture, spec, churn_instances(5, seed=1), ["no"] * 5, at=now, request_id="r1")
    assert one(setup("drift", "c1", at=now + timedelta(minutes=1))).reason == NOTHING_NEW
    # a label for one of them does
    record_feedback(spec, json.dumps({"request_id": "r1", "row_index": 2, "label": "yes"}), capture, ["no", "yes"])
    assert one(setup("drift", "c2", at=now + timedelta(minutes=2))).started


def test_a_version_that_learned_from_the_feedback_is_not_retrained_on_less(  # noqa: PLR0917 (pytest fixtures)
    setup: Callable[..., RetrainingResult],
    registry: Registry,
    data: ObjectStore,
    capture: ObjectStore,
    churn_spec: ModelSpec,
    capture_request: Callable[..., int],
) -> None:
    import pyarrow as pa

    from infra.local.example_data import churn_instances
    from mlcore.catalog import DataSource
    from mlcore.data import feedback_rows, rows_digest
    from mlcore.registry import RunRecord, RunStatus
    from mlcore.serving import record_feedback

    now = datetime.now(UTC)
    spec = spec_with(churn_spec, include_feedback=True)
    registry.put_spec(spec, actor="test")
    dataset = data.sha256_of(DATASET)
    # GIVEN rows served and labelled, and v2 trained on the dataset and those labels (its window from a minute before)
    capture_request(capture, spec, churn_instances(3, seed=2), ["no"] * 3, at=now, request_id="r1")
    record_feedback(spec, json.dumps({"feedback": [{"request_id": "r1", "row_index": i, "label": "yes"}
                                                   for i in range(3)]}), capture, ["no", "yes"])  # fmt: skip
    learned = rows_digest(pa.table({"request_id": ["r1"] * 3, "row_index": [0, 1, 2], "label": ["yes"] * 3}))
    champion_trained_on(
        registry, data_fingerprint(dataset, learned), created_at=now + timedelta(minutes=1), run_id="v2"
    )
    since = (now - timedelta(minutes=1)).isoformat()
    registry.put_run(RunRecord(
        run_id="v2", model_name="churn", status=RunStatus.REGISTERED, outcome="registered v1", started_at=since,
        ended_at=since, datasets=[DataSource(source="dataset", uri=f"s3://d/{DATASET}", sha256=dataset, rows=1),
                                  DataSource(source="feedback", uri="s3://c/", sha256=learned, rows=3, since=since)],
    ))  # fmt: skip
    # WHEN nothing was labelled since v2 THEN there is nothing new: the labels v2 learned from still count (a run on the
    # dataset alone, which a window from v2's creation gave, would learn from less than v2 did)
    assert one(setup("drift", "d1", at=now + timedelta(minutes=2))).reason == NOTHING_NEW
    # AND a label after v2 is something new, learned together with those before it
    capture_request(capture, spec, churn_instances(1, seed=3), ["no"], at=now + timedelta(minutes=3), request_id="r2")
    record_feedback(spec, json.dumps({"request_id": "r2", "label": "no"}), capture, ["no", "yes"])
    assert one(setup("drift", "d2", at=now + timedelta(minutes=4))).started
    later = now + timedelta(minutes=5)
    on_the_same = feedback_rows(
        spec, registry.champion("churn"), capture, later, dataset_sha256=dataset, registry=registry
    )
    assert on_the_same is not None and on_the_same.rows.num_rows == 4 and on_the_same.since.isoformat() == since
    # AND a new dataset holds the truth up to its time: its runs add the rows served since v2 was trained (r2)
    on_another = feedback_rows(
        spec, registry.champion("churn"), capture, later, dataset_sha256="another-sha256", registry=registry
    )
    assert on_another is not None and on_another.rows.num_rows == 1
    assert on_another.since == now + timedelta(minutes=1)


# -- schedule ------------------------------------------------------------------------------------


def test_a_schedule_tick_asks_for_the_models_whose_schedule_fired(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec, state_machine: tuple[Any, str]
) -> None:
    # GIVEN churn retrains daily at 06:00 and another model has no schedule
    registry.put_spec(spec_with(churn_spec, schedule="cron(0 6 * * ? *)"), actor="test")
    other = parse_spec({**spec_with(churn_spec).model_dump(mode="json", exclude_none=True), "name": "upsell"})
    registry.put_spec(other, actor="test")
    champion_trained_on(registry, "another-fingerprint", created_at=datetime(2025, 3, 1, 5, 0, tzinfo=UTC))
    # WHEN the platform ticks at 05:59, then 06:00, then 06:05
    assert setup("schedule", "tick-1", at=datetime(2025, 3, 1, 5, 59, tzinfo=UTC)).decisions == []
    fired = one(setup("schedule", "tick-2", at=datetime(2025, 3, 1, 6, 0, tzinfo=UTC)))
    again = setup("schedule", "tick-3", at=datetime(2025, 3, 1, 6, 5, tzinfo=UTC))
    # THEN one run at 06:00, for churn only, and the schedule is served until tomorrow's 06:00
    assert (fired.model_name, fired.trigger, fired.started) == ("churn", "schedule", True)
    assert again.decisions == []
    assert len(executions(state_machine)) == 1
    assert registry.get_monitor_state("churn").schedule_served_at == "2025-03-01T06:00:00+00:00"


def test_a_schedule_skipped_for_nothing_new_is_served_all_the_same(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec, data: ObjectStore
) -> None:
    registry.put_spec(spec_with(churn_spec, schedule="rate(1 day)"), actor="test")
    champion_trained_on(registry, data_fingerprint(data.sha256_of(DATASET)))
    decision = one(setup("schedule", "tick-1"))
    assert (decision.started, decision.reason) == (False, NOTHING_NEW)
    assert setup("schedule", "tick-2", at=NOW + timedelta(hours=23, minutes=59)).decisions == []
    assert len(setup("schedule", "tick-3", at=NOW + timedelta(days=1)).decisions) == 1


def test_firing_a_models_schedule_asks_for_that_model_only(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec
) -> None:
    registry.put_spec(spec_with(churn_spec, schedule="rate(7 days)"), actor="test")
    champion_trained_on(registry, "another-fingerprint", created_at=NOW - timedelta(hours=1))
    assert setup("schedule", "tick-1").decisions == []  # not due
    assert one(setup("schedule", "fired-1", model_name="churn")).started  # `mlops local fire churn`


# -- new data ------------------------------------------------------------------------------------


@pytest.fixture
def two_drops(registry: Registry, data: ObjectStore, churn_spec: ModelSpec) -> tuple[str, str]:
    """GIVEN new data starting runs after a 15-minute debounce, and two dataset files landed: (older, newer)."""
    registry.put_spec(spec_with(churn_spec, on_new_data=True, debounce_minutes=15), actor="test")
    first_key, second_key = "datasets/churn/a.csv", "datasets/churn/b.csv"
    for key in (first_key, second_key):
        data.put(key, key.encode())
    return first_key, second_key


def started_on(state_machine: tuple[Any, str]) -> str:
    """The dataset the one training run started trains on."""
    [execution] = executions(state_machine)
    described = state_machine[0].describe_execution(executionArn=execution["executionArn"])
    return str(json.loads(described["input"])["dataset_uri"])


def test_a_data_drop_waits_out_the_debounce_and_the_newest_drop_starts_one_run(
    setup: Callable[..., RetrainingResult],
    registry: Registry,
    two_drops: tuple[str, str],
    state_machine: tuple[Any, str],
) -> None:
    first_key, second_key = two_drops
    # two files within the debounce: each asks to wait 15 minutes
    assert setup("new_data", "e1", key=first_key).wait_seconds == 900
    assert setup("new_data", "e2", key=second_key, at=NOW + timedelta(minutes=5)).wait_seconds == 900
    # after their waits, the first is superseded and the second starts the run, on its file
    first = one(setup("new_data", "e1", key=first_key, after_wait=True, at=NOW + timedelta(minutes=15)))
    second = one(setup("new_data", "e2", key=second_key, after_wait=True, at=NOW + timedelta(minutes=20)))
    assert (first.started, first.reason) == (False, "a later data drop (e2) arrived within the debounce of 15 min")
    assert second.started
    assert started_on(state_machine) == f"s3://mlops-data/{second_key}"


def test_the_drop_that_happened_last_starts_the_run_even_when_an_older_one_is_delivered_after_it(
    setup: Callable[..., RetrainingResult],
    registry: Registry,
    two_drops: tuple[str, str],
    state_machine: tuple[Any, str],
) -> None:
    first_key, second_key = two_drops
    # GIVEN the newer drop's event delivered first, the older one a moment after (deliveries may overtake)
    assert setup("new_data", "e2", key=second_key, event_at=NOW + timedelta(seconds=1)).wait_seconds == 900
    assert setup("new_data", "e1", key=first_key, event_at=NOW, at=NOW + timedelta(seconds=2)).wait_seconds == 900
    assert registry.get_monitor_state("churn").last_data_event == "e2"
    # THEN after the waits the newer drop starts the run, on its file, and the older one is superseded
    first = one(setup("new_data", "e1", key=first_key, after_wait=True, at=NOW + timedelta(minutes=15)))
    second = one(setup("new_data", "e2", key=second_key, after_wait=True, at=NOW + timedelta(minutes=15)))
    assert (first.started, second.started) == (False, True)
    assert started_on(state_machine) == f"s3://mlops-data/{second_key}"


def test_drops_of_the_same_second_are_ordered_by_key_whatever_their_delivery(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec
) -> None:
    registry.put_spec(spec_with(churn_spec, on_new_data=True, debounce_minutes=15), actor="test")
    older, newer = "datasets/churn/a.csv", "datasets/churn/b.csv"
    setup("new_data", "e-new", key=newer, event_at=NOW)
    setup("new_data", "e-old", key=older, event_at=NOW)
    assert registry.get_monitor_state("churn").last_data_event == "e-new"
    setup("new_data", "e-newest", key=newer.replace("b.csv", "c.csv"), event_at=NOW)
    assert registry.get_monitor_state("churn").last_data_event == "e-newest"


def test_a_data_drop_of_an_unregistered_model_asks_nothing(setup: Callable[..., RetrainingResult]) -> None:
    assert setup("new_data", "e1", key="datasets/unknown/a.csv") == RetrainingResult()
    assert setup("new_data", "e2", key="datasets/churnx/a.csv") == RetrainingResult()


def test_a_dropped_file_deleted_before_the_wait_ends_starts_nothing(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec
) -> None:
    registry.put_spec(spec_with(churn_spec, on_new_data=True, debounce_minutes=0), actor="test")
    decision = one(setup("new_data", "e1", key="datasets/churn/gone.csv"))
    assert (decision.started, decision.reason) == (False, "no object at s3://mlops-data/datasets/churn/gone.csv")


# -- what each decision says, exactly -----------------------------------------------------------


def audit(registry: Registry, action: str) -> list[dict[str, Any]]:
    return [r.details for r in registry.audit_trail("churn") if r.action == action]


def test_a_started_run_and_a_skipped_one_are_audited_with_their_event(
    setup: Callable[..., RetrainingResult], registry: Registry
) -> None:
    started = one(setup("drift", "c1"))
    skipped_again = one(setup("drift", "c1"))
    assert (started.reason, skipped_again.reason) == ("drift", "event c1 was already handled")  # no reason: the trigger
    assert audit(registry, "retrain_started") == [
        {"trigger": "drift", "event_id": "c1", "execution": started.execution_name, "why": "drift"}
    ]
    assert audit(registry, "retrain_skipped") == [
        {"trigger": "drift", "event_id": "c1", "why": "event c1 was already handled"}
    ]


def test_an_event_id_with_colons_is_quoted_whole(setup: Callable[..., RetrainingResult]) -> None:
    assert one(setup("drift", "check:2025:03")).started
    assert one(setup("drift", "check:2025:03")).reason == "event check:2025:03 was already handled"


def test_a_run_started_without_a_reason_is_named_by_its_trigger(
    setup: Callable[..., RetrainingResult], state_machine: tuple[Any, str]
) -> None:
    one(setup("degradation", "c1"))
    [execution] = executions(state_machine)
    described = state_machine[0].describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"])["reason"] == "degradation"


def test_a_drift_request_without_its_model_is_refused_naming_the_field(setup: Callable[..., RetrainingResult]) -> None:
    from mlcore.errors import NotFoundError

    with pytest.raises(NotFoundError) as refused:
        setup("drift", "c1", model_name=None)
    assert (refused.value.message, refused.value.field) == ("a drift request names its model", "model_name")


def test_a_start_that_fails_gives_back_its_slot_and_its_event(
    setup: Callable[..., RetrainingResult],
    registry: Registry,
    state_machine: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    data: ObjectStore,
) -> None:
    assert one(setup("drift", "c0", at=NOW - timedelta(hours=7))).started  # an earlier run, past its cool-down
    before = registry.get_monitor_state("churn")
    sfn = state_machine[0]

    def throttled(**kwargs: Any) -> None:
        raise RuntimeError("throttled")

    monkeypatch.setattr(sfn, "start_execution", throttled)
    data.put(DATASET, b"tenure_months,churned\n1,yes\n3,no\n")  # other data than c0's run was asked to learn
    with pytest.raises(RuntimeError, match="throttled"):
        setup("drift", "c1")
    after = registry.get_monitor_state("churn")
    fields = ("retrains", "last_retrain_at", "last_retrain_execution", "previous_retrain_at", "last_retrain_data")
    assert [getattr(after, f) for f in fields] == [getattr(before, f) for f in fields]
    # (so c0's run, should it find nothing new, records its own data as learned from, not c1's)
    assert before.last_retrain_data is not None
    assert "drift:c1" not in after.handled_events  # the retried event may start the run
    monkeypatch.undo()
    assert one(setup("drift", "c1")).started


def test_a_schedule_request_for_a_model_without_a_schedule_names_the_switch(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec
) -> None:
    registry.put_spec(spec_with(churn_spec), actor="test")
    assert one(setup("schedule", "fired", model_name="churn")).reason == "retrain.schedule is off for 'churn'"


def test_every_model_with_a_due_schedule_is_asked_for_whatever_the_order(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec, data: ObjectStore
) -> None:
    # GIVEN a model without a schedule listed first, and two with one, never trained (due at once)
    for name, retrain in (("alpha", {}), ("churn", {"schedule": "rate(1 day)"}), ("zeta", {"schedule": "rate(1 day)"})):
        registry.put_spec(parse_spec({**spec_with(churn_spec, **retrain).model_dump(mode="json", exclude_none=True),
                                      "name": name}), actor="test")  # fmt: skip
        data.put(f"datasets/{name}/a.csv", b"x\n1\n")
    found = setup("schedule", "tick-1").decisions
    assert [(d.model_name, d.started) for d in found] == [("churn", True), ("zeta", True)]


@pytest.mark.parametrize(("minutes", "wait"), [(1 / 60, 1), (0.0, 0)])
def test_a_debounce_of_one_second_waits_and_none_does_not(  # noqa: PLR0917 (fixtures and parameters)
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec, data: ObjectStore,
    minutes: float, wait: int,
) -> None:  # fmt: skip
    registry.put_spec(spec_with(churn_spec, on_new_data=True, debounce_minutes=minutes), actor="test")
    data.put("datasets/churn/b.csv", b"x\n1\n")
    result = setup("new_data", "e1", key="datasets/churn/b.csv")
    assert result.wait_seconds == wait
    assert [d.started for d in result.decisions] == ([] if wait else [True])


def test_a_data_drop_delivered_again_neither_waits_again_nor_moves_the_debounce(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec, data: ObjectStore
) -> None:
    registry.put_spec(spec_with(churn_spec, on_new_data=True, debounce_minutes=15), actor="test")
    data.put("datasets/churn/b.csv", b"x\n1\n")
    assert setup("new_data", "e1", key="datasets/churn/b.csv").wait_seconds == 900
    assert one(setup("new_data", "e1", key="datasets/churn/b.csv", after_wait=True)).started
    replay = setup("new_data", "e1", key="datasets/churn/b.csv")
    assert (replay.wait_seconds, [d.reason for d in replay.decisions]) == (0, ["event e1 was already handled"])
    assert audit(registry, "retrain_skipped")[-1] == {
        "trigger": "new_data", "event_id": "e1", "why": "event e1 was already handled"
    }  # fmt: skip


def test_the_request_takes_the_time_from_the_clock_when_none_is_given(
    registry: Registry, data: ObjectStore, capture: ObjectStore, churn_spec: ModelSpec, state_machine: tuple[Any, str]
) -> None:
    registry.put_spec(churn_spec, actor="test")
    data.put(DATASET, b"x\n1\n")
    before = datetime.now(UTC)
    request = RetrainingRequest(trigger="drift", event_id="c1", model_name="churn")
    result = request_retraining(
        request, registry=registry, data=data, capture=capture, sfn=state_machine[0], state_machine_arn=state_machine[1]
    )
    assert one(result).started
    started = datetime.fromisoformat(registry.get_monitor_state("churn").last_retrain_at or "")
    assert before <= started <= datetime.now(UTC)


def test_a_run_that_found_nothing_new_gives_its_slot_back_and_its_data_starts_no_other(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec, data: ObjectStore
) -> None:
    # GIVEN a model that may retrain once a day, 6 h apart, whose last run (a day ago) registered its champion;
    # the request cannot tell its data from the champion's (so for a model reading feature views)
    registry.put_spec(spec_with(churn_spec, cooldown_hours=6, max_per_day=1), actor="test")
    champion_trained_on(registry, "not-what-the-request-computes")
    earlier = (NOW - timedelta(days=1)).isoformat()
    registry.update_monitor_state("churn", lambda s: s.model_copy(update={"last_retrain_at": earlier}))
    first = one(setup("drift", "c1"))
    assert first.started and first.execution_name
    # WHEN its run finds nothing new, and its record step gives the slot back (again, when retried)
    registry.update_monitor_state("churn", lambda s: s.learned_nothing(first.execution_name or ""))
    assert registry.get_monitor_state("churn").learned_nothing(first.execution_name) is None
    state = registry.get_monitor_state("churn")
    # THEN the run counts toward neither the cap nor the cool-down: the earlier run's time is the last again
    assert (state.retrains, state.last_retrain_at) == ([], earlier)
    # AND the same data, for the same champion, starts no other run
    assert one(setup("drift", "c2", at=NOW + timedelta(minutes=1))).reason == f"{NOTHING_NEW} (its last run found none)"
    # AND new data starts one at once (no cool-down, a slot of the cap free)
    data.put(DATASET, b"tenure_months,churned\n1,yes\n2,no\n")
    assert one(setup("drift", "c3", at=NOW + timedelta(minutes=2))).started


def test_a_run_whose_data_the_request_could_not_know_keeps_its_slot() -> None:
    from mlcore.registry import MonitorState

    # an Athena query's result is known once its run runs: nothing refuses the next request on the same result,
    # so a run that found nothing new keeps its slot of the cap and its cool-down (they limit such runs)
    state = MonitorState(retrains=[NOW.isoformat()], last_retrain_at=NOW.isoformat(), last_retrain_execution="r1")
    assert state.learned_nothing("r1") is None
    known = state.model_copy(update={"last_retrain_data": "1:abc"})
    assert known.learned_nothing("r1") is not None and known.learned_nothing("r2") is None


def test_data_a_run_found_nothing_new_in_is_new_to_another_champion(
    setup: Callable[..., RetrainingResult], registry: Registry, churn_spec: ModelSpec
) -> None:
    registry.put_spec(spec_with(churn_spec, cooldown_hours=0), actor="test")
    champion_trained_on(registry, "not-what-the-request-computes")
    first = one(setup("drift", "c1"))
    registry.update_monitor_state("churn", lambda s: s.learned_nothing(first.execution_name or ""))
    assert not one(setup("drift", "c2", at=NOW + timedelta(minutes=1))).started
    # WHEN another version becomes the champion (a rollback, a promotion) THEN the same data may teach it something
    champion_trained_on(registry, "not-what-the-request-computes", run_id="another")
    assert one(setup("drift", "c3", at=NOW + timedelta(minutes=2))).started
