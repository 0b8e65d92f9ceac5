"""Continuous training on the local target: every trigger through the template's rules, and every run recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_helpers import arns, decisions, new_executions, parquet, register_copy, request_retraining, training_run

from infra.cli import main
from infra.local.demo import DemoResult
from infra.local.example_data import churn_features, churn_instances, churn_labels, churn_table
from infra.local.state import LOCAL_DIR_VARIABLE
from infra.local.target import LocalTarget
from infra.operations import Platform

pytestmark = pytest.mark.e2e


def train_first_version(platform: Platform, name: str, seed: int) -> None:
    platform.upload_dataset(name, parquet(churn_table(1200, seed=seed)), "parquet")
    execution = platform.wait(platform.start_pipeline(name, reason="first version"))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")


def test_a_schedule_fires_through_the_templates_rule(
    demo: DemoResult, target: LocalTarget, platform: Platform, tmp_path: Path
) -> None:
    # GIVEN a model retrained daily, with data and no version yet
    register_copy(platform, tmp_path, "churn-daily", retrain={"schedule": "rate(1 day)"})
    platform.upload_dataset("churn-daily", parquet(churn_table(1200, seed=21)), "parquet")
    machine = platform.resources.retraining_state_machine
    before = arns(platform, machine)
    # WHEN the retrain tick's rule comes due (the deployed rate(5 minutes), five minutes on)
    fired = target.scheduler.tick(datetime.now(UTC) + timedelta(minutes=5, seconds=1))
    # THEN EventBridge's scheduled event, transformed by the rule's target, asks for the run
    assert any("retraintick" in rule for rule in fired)
    requests = new_executions(platform, machine, before)
    [request] = requests
    body = json.loads(platform.client("stepfunctions").describe_execution(executionArn=request)["input"])
    assert (body["trigger"], set(body)) == ("schedule", {"trigger", "event_id", "at"})
    started = [d for d in decisions(platform, requests) if d["model_name"] == "churn-daily"]
    assert [(d["trigger"], d["started"]) for d in started] == [("schedule", True)]
    assert training_run(platform, started[0]["execution_name"])["status"] == "SUCCEEDED"
    assert platform.registry.get_monitor_state("churn-daily").schedule_served_at is not None


def test_two_files_within_the_debounce_start_one_run_on_the_newest(
    demo: DemoResult, platform: Platform, tmp_path: Path
) -> None:
    register_copy(platform, tmp_path, "churn-drops", retrain={"on_new_data": True, "debounce_minutes": 0.05})
    machine = platform.resources.retraining_state_machine
    before = arns(platform, machine)
    platform.upload_dataset("churn-drops", parquet(churn_table(1000, seed=22)), "parquet")
    newest = platform.upload_dataset("churn-drops", parquet(churn_table(1100, seed=23)), "parquet")
    requests = new_executions(platform, machine, before, count=2)
    # `mlops local status` tells whose they are, from the dropped object's key ('churn' is no prefix of it)
    assert [platform.execution_model(arn, ["churn", "churn-drops"]) for arn in requests] == ["churn-drops"] * 2
    found = decisions(platform, requests)
    started = [d for d in found if d["started"]]
    assert len(started) == 1
    [skipped] = [d for d in found if not d["started"]]
    assert (
        skipped["reason"].startswith("a later data drop (") and "within the debounce of 0.05 min" in skipped["reason"]
    )
    run = training_run(platform, started[0]["execution_name"])
    assert json.loads(run["input"])["dataset_uri"] == newest
    assert platform.execution_model(run["executionArn"], ["churn", "churn-drops"]) == "churn-drops"
    assert platform.registry.get_run(started[0]["execution_name"]).datasets[0].rows == 1100


@pytest.mark.parametrize(
    ("name", "trigger", "switches"),
    [
        ("churn-on-drift", "drift", {"on_degradation": False}),
        ("churn-on-degradation", "degradation", {"on_drift": False}),
    ],
)
def test_drift_and_degradation_each_start_a_run(  # noqa: PLR0917 (pytest fixtures and parameters)
    demo: DemoResult,
    target: LocalTarget,
    platform: Platform,
    tmp_path: Path,
    name: str,
    trigger: str,
    switches: dict[str, bool],
) -> None:
    # GIVEN a champion whose served traffic drifted and whose live performance fell (any fall counts here)
    register_copy(
        platform,
        tmp_path,
        name,
        drift={"threshold": 0.1, "dataset_share": 0.25, "window_hours": 24, "min_rows": 100, "max_degradation": 0.0},
        retrain={"cooldown_hours": 0, **switches},
    )
    train_first_version(platform, name, seed=24)
    instances = churn_instances(300, seed=25, drifted=True)
    request_ids = []
    for start in range(0, 300, 50):
        status, body = platform.predict(name, instances[start : start + 50])
        assert status == 200
        request_ids.append(body["request_id"])
    labels = churn_labels(churn_features(300, 25, drifted=True), 25).tolist()
    feedback = [
        {"request_id": request_ids[i // 50], "row_index": i % 50, "label": label} for i, label in enumerate(labels)
    ]
    assert platform.call_api("POST", f"/models/{name}/feedback", {"feedback": feedback})[0] == 200
    target.functions.shutdown()  # flush the capture
    platform.upload_dataset(name, parquet(churn_table(1300, seed=26)), "parquet")  # something new to learn
    # WHEN the monitor checks the model
    execution = platform.wait(platform.start_monitor(force=True, models=[name]))
    # THEN the finding the spec retrains on starts one run, named after the check
    [decision] = [d for r in json.loads(execution["output"])["results"] for d in r.get("decisions", [])]
    assert (decision["trigger"], decision["started"]) == (trigger, True)
    assert decision["execution_name"].startswith(f"{name}-{trigger}-")
    run = training_run(platform, decision["execution_name"])
    assert run["status"] == "SUCCEEDED"
    assert platform.registry.get_run(decision["execution_name"]).trigger == trigger


def test_eight_concurrent_requests_start_no_more_runs_than_the_daily_cap(
    demo: DemoResult, platform: Platform, tmp_path: Path
) -> None:
    register_copy(platform, tmp_path, "churn-capped", retrain={"cooldown_hours": 0, "max_per_day": 2})
    platform.upload_dataset("churn-capped", parquet(churn_table(1000, seed=27)), "parquet")
    before = arns(platform, platform.resources.training_state_machine)
    found = request_retraining(
        platform,
        *({"trigger": "drift", "event_id": f"check-{i}", "model_name": "churn-capped"} for i in range(8)),
    )
    assert sum(d["started"] for d in found) == 2
    assert sorted(d["reason"] for d in found if not d["started"]) == ["daily cap of 2 retrainings reached"] * 6
    started = arns(platform, platform.resources.training_state_machine) - before
    assert len(started) == 2
    for arn in started:
        platform.wait(arn)


def test_a_replayed_event_starts_nothing(demo: DemoResult, platform: Platform, tmp_path: Path) -> None:
    register_copy(platform, tmp_path, "churn-replayed", retrain={"cooldown_hours": 0, "max_per_day": 5})
    platform.upload_dataset("churn-replayed", parquet(churn_table(1000, seed=28)), "parquet")
    event = {"trigger": "drift", "event_id": "4f2c8b9e-replayed", "model_name": "churn-replayed"}
    [first] = request_retraining(platform, event)
    [again] = request_retraining(platform, event)
    assert first["started"] and not again["started"]
    assert again["reason"] == "event 4f2c8b9e-replayed was already handled"
    training_run(platform, first["execution_name"])


def test_the_run_record_holds_every_field(demo: DemoResult, platform: Platform) -> None:
    record = platform.registry.get_run(demo.retrain_execution or "")
    assert (record.status, record.outcome, record.version) == ("registered", "registered v2", 2)
    assert (record.trigger, record.event_id) == ("new_data", record.event_id) and record.event_id
    assert len(record.spec_sha256) == 64 and len(record.fingerprint) == 64
    assert record.params["n_estimators"] == 60 and record.params["criterion"] == "gini"  # defaults resolved
    [dataset] = record.datasets
    assert (dataset.source, dataset.rows, len(dataset.sha256)) == ("dataset", 6000, 64)
    assert dataset.uri.startswith("s3://") and "/datasets/churn/" in dataset.uri
    assert record.code_version and record.code_version != "unknown"
    assert record.image == f"local:{record.code_version}"
    assert set(record.metrics) == {"roc_auc", "average_precision", "accuracy", "precision", "recall", "f1", "log_loss"}
    assert (record.champion_version, record.gate_passed) == (1, True)
    assert "same holdout" in record.gate_reason and record.champion_metrics
    assert {s.step for s in record.steps} >= {"Validate", "Train", "Evaluate", "Register", "Promote"}
    assert all(s.seconds >= 0 for s in record.steps)
    assert record.batch.jobs == 1 and record.batch.vcpu_seconds > 0 and record.batch.gb_seconds > 0
    assert record.batch.cost_usd > 0
    assert record.started_at < record.ended_at


def test_runs_are_exported_to_parquet_and_registered_in_glue(demo: DemoResult, platform: Platform) -> None:
    import awswrangler as wr
    import boto3

    session = boto3.Session(region_name="us-east-1")
    partitions = platform.client("glue").get_partitions(DatabaseName="mlops_runs", TableName="runs")["Partitions"]
    assert ["churn"] in [p["Values"] for p in partitions]
    frame = wr.s3.read_parquet(
        f"s3://{platform.resources.artifacts_bucket}/exports/runs/", dataset=True, boto3_session=session
    )
    churn = frame[frame["model_name"] == "churn"]
    assert demo.retrain_execution in set(churn["run_id"])
    row = churn[churn["run_id"] == demo.retrain_execution].iloc[0]
    assert (row["status"], row["version"], row["primary_metric"]) == ("registered", 2, "roc_auc")
    assert json.loads(row["params"])["n_estimators"] == 60


def test_runs_list_show_and_compare(
    demo: DemoResult, target: LocalTarget, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCAL_DIR_VARIABLE, str(target.outdir))
    monkeypatch.setenv("AWS_ENDPOINT_URL", target.endpoint)
    first, second = demo.compared
    capsys.readouterr()
    assert main(["runs", "list", "churn", "--output", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {first, second} <= {row["run_id"] for row in listed}
    assert main(["runs", "list", "churn"]) == 0  # the table for a person: an outcome per run
    assert "registered v2" in capsys.readouterr().out
    assert main(["runs", "show", second]) == 0
    shown = capsys.readouterr().out
    assert f"Run {second} of churn: registered v2" in shown and "vCPU-s" in shown
    assert main(["runs", "show", second, "--output", "json"]) == 0  # what a script polling it stops on
    assert json.loads(capsys.readouterr().out)["recorded"] is True
    assert main(["runs", "compare", first, second, "--output", "json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    rows = {row["field"]: row for row in compared["rows"]}
    assert compared["runs"] == [first, second]
    assert rows["outcome"]["values"] == ["registered v1", "registered v2"] and rows["outcome"]["differs"]
    assert rows["param n_estimators"]["values"] == ["60", "60"] and not rows["param n_estimators"]["differs"]
    assert rows["data fingerprint"]["differs"] and rows["holdout roc_auc"]["differs"]
    # and the runs as data, for scripts: numbers as numbers, whole hashes
    records = compared["records"]
    assert [r["run_id"] for r in records] == [first, second] and records[1]["params"]["n_estimators"] == 60
    assert isinstance(records[1]["metrics"]["roc_auc"], float) and len(records[1]["spec_sha256"]) == 64
    assert main(["runs", "compare", first, second]) == 0
    table = capsys.readouterr().out
    assert "holdout roc_auc" in table and "≠" in table
    assert main(["runs", "compare", first]) == 2


def test_a_replayed_data_drop_is_only_handled_once(demo: DemoResult, platform: Platform) -> None:
    """The same EventBridge event delivered twice (an at-least-once delivery) starts nothing the second time."""
    request = demo.retraining_requests[0]
    [decision] = request["decisions"]
    spec_key = json.loads(training_run(platform, decision["execution_name"])["input"])["dataset_uri"].split("/", 3)[3]
    state = platform.registry.get_monitor_state("churn")
    handled = [e for e in state.handled_events if e.startswith("new_data:")]
    event_id = handled[0].split(":", 1)[1]
    [again] = request_retraining(
        platform, {"trigger": "new_data", "event_id": event_id, "key": spec_key, "after_wait": True}
    )
    assert (again["started"], again["reason"]) == (False, f"event {event_id} was already handled")


def test_a_search_runs_its_trials_as_batch_jobs_recorded_as_child_runs(
    demo: DemoResult, platform: Platform, tmp_path: Path
) -> None:
    search = {
        "params": {"max_depth": [4, 6, 8], "n_estimators": {"low": 20, "high": 60}},
        "trials": 4,
        "parallel": 2,
        "seed": 5,
        "folds": 3,
    }
    register_copy(
        platform,
        tmp_path,
        "churn-search",
        estimator={"kind": "random_forest_classifier", "params": {"n_jobs": 1}, "search": search},
        data={"min_rows": 500, "holdout_fraction": 0.25, "seed": 7, "cv_folds": 3},
    )
    platform.upload_dataset("churn-search", parquet(churn_table(1200, seed=29)), "parquet")
    execution = platform.wait(platform.start_pipeline("churn-search", reason="search"))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    run_id = execution["name"]
    runs = platform.registry.list_runs("churn-search")
    trials = sorted((r for r in runs if r.parent_run_id == run_id), key=lambda r: r.trial or 0)
    parent = platform.registry.get_run(run_id)
    # THEN four trials, each a child run with its parameters and cross-validation score
    assert [t.trial for t in trials] == [0, 1, 2, 3]
    assert all(t.status == "trial" and t.cross_validation and t.cross_validation["roc_auc"].folds == 3 for t in trials)
    assert [t.run_id for t in trials] == [f"{run_id}-trial-{i:03d}" for i in range(4)]
    [best] = [t for t in trials if t.outcome == "best"]
    assert best.metrics["roc_auc"] == max(t.metrics["roc_auc"] for t in trials)
    # AND the run refitted the best trial's parameters; its steps and Batch usage count every trial
    assert parent.params["max_depth"] == best.params["max_depth"]
    assert parent.params["n_estimators"] == best.params["n_estimators"]
    steps = {s.step: s for s in parent.steps}
    assert steps["Trial"].count == 4 and "Trials" in steps
    assert parent.batch.jobs == 5  # four trials and the refit
    assert parent.outcome == "registered v1"
    cv = parent.cross_validation
    assert cv is not None and cv["roc_auc"].folds == 3 and cv["roc_auc"].sd > 0  # the run's own mean ± sd
