"""The run record's parts from an execution's history, and the views of `mlops runs`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.runs_view import compare_rows, list_rows, outcome_text, show_lines
from mlcore.catalog import TRAINING_JOB, Comparison, CrossValidation, DataSource, SegmentMetrics, pricing
from mlcore.registry import BatchUsage, RunRecord, RunStatus
from mlcore.runs import batch_usage, row, step_times

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T0 = int(START.timestamp() * 1000)  # Batch's times are epoch milliseconds


def event(kind: str, seconds: float, **details: Any) -> dict[str, Any]:
    return {"type": kind, "timestamp": START + timedelta(seconds=seconds), **details}


def entered(name: str, seconds: float, kind: str = "Task") -> dict[str, Any]:
    return event(f"{kind}StateEntered", seconds, stateEnteredEventDetails={"name": name})


def exited(name: str, seconds: float, kind: str = "Task") -> dict[str, Any]:
    return event(f"{kind}StateExited", seconds, stateExitedEventDetails={"name": name})


def batch_done(started_ms: int, stopped_ms: int, *, failed: bool = False, **job: Any) -> dict[str, Any]:
    document = json.dumps({"JobId": "j", "StartedAt": started_ms, "StoppedAt": stopped_ms, **job})
    if failed:
        return event("TaskFailed", 0, taskFailedEventDetails={"resourceType": "batch", "cause": document})
    return event("TaskSucceeded", 0, taskSucceededEventDetails={"resourceType": "batch", "output": document})


def test_step_times_pair_entries_and_exits_and_sum_a_maps_iterations() -> None:
    history = [
        entered("Validate", 0),
        exited("Validate", 1.5),
        event("ChoiceStateEntered", 1.5, stateEnteredEventDetails={"name": "AnythingNew"}),
        entered("Trials", 2, kind="Map"),
        entered("Trial", 2),
        entered("Trial", 2.5),
        exited("Trial", 4),
        exited("Trial", 6.5),
        exited("Trials", 7, kind="Map"),
        entered("RecordRun", 8),  # still running while it reads the history
    ]
    times = {t.step: (t.seconds, t.count) for t in step_times(history)}
    assert times == {"Validate": (1.5, 1), "Trials": (5.0, 1), "Trial": (6.0, 2)}
    assert [t.step for t in step_times(history)] == ["Validate", "Trial", "Trials"]  # by when each first finished


def test_batch_usage_counts_each_jobs_run_time_with_its_resources_and_prices_it() -> None:
    history = [
        batch_done(T0, T0 + 60_000),  # the catalog's job definition: 2 vCPU, 8 GiB
        batch_done(
            T0,
            T0 + 30_000,
            failed=True,
            Container={"ResourceRequirements": [{"Type": "VCPU", "Value": "4"}, {"Type": "MEMORY", "Value": "2048"}]},
        ),
        event("TaskSucceeded", 0, taskSucceededEventDetails={"resourceType": "lambda", "output": "{}"}),
        batch_done(0, 0) | {"taskSucceededEventDetails": {"resourceType": "batch", "output": "not json"}},
    ]
    usage = batch_usage(history)
    assert usage.jobs == 2
    assert usage.vcpu_seconds == pytest.approx(TRAINING_JOB.vcpus * 60 + 4 * 30)
    assert usage.gb_seconds == pytest.approx(TRAINING_JOB.memory_gib * 60 + 2 * 30)
    expected = usage.vcpu_seconds / 3600 * pricing.FARGATE_VCPU_HOUR_USD
    expected += usage.gb_seconds / 3600 * pricing.FARGATE_GB_HOUR_USD
    assert usage.cost_usd == pytest.approx(expected, abs=1e-6)


def test_a_job_that_never_started_costs_nothing() -> None:
    assert batch_usage([batch_done(0, 0) | {"taskFailedEventDetails": {"resourceType": "batch", "cause": "{}"}}]) == (
        BatchUsage()
    )


def record(run_id: str, **changes: Any) -> RunRecord:
    base: dict[str, Any] = {
        "run_id": run_id,
        "model_name": "churn",
        "trigger": "new_data",
        "status": RunStatus.REGISTERED,
        "outcome": "registered v1",
        "started_at": START.isoformat(),
        "ended_at": (START + timedelta(seconds=42)).isoformat(),
        "estimator": "random_forest_classifier",
        "params": {"n_estimators": 60, "max_depth": 8},
        "datasets": [DataSource(source="dataset", uri="s3://d/datasets/churn/a.csv", sha256="a" * 64, rows=6000)],
        "primary_metric": "roc_auc",
        "metrics": {"roc_auc": 0.75, "f1": 0.3},
        "version": 1,
        "batch": BatchUsage(jobs=1, vcpu_seconds=3.0, gb_seconds=12.0, cost_usd=0.00005),
    }
    return RunRecord(**{**base, **changes})


def test_compare_marks_the_fields_that_differ_and_only_those() -> None:
    first = record("run-1")
    second = record(
        "run-2",
        outcome="registered v2",
        version=2,
        params={"n_estimators": 60, "max_depth": 12},
        metrics={"roc_auc": 0.75, "f1": 0.4},
        cross_validation={"roc_auc": CrossValidation(folds=3, mean=0.74, sd=0.01)},
        comparison=Comparison(metric="roc_auc", confidence=0.9, difference=0.01, low=-0.005, high=0.02, resamples=1000),
    )
    rows = {r.field: r for r in compare_rows([first, second])}
    assert rows["param max_depth"].values == ["8", "12"] and rows["param max_depth"].differs
    assert rows["param n_estimators"].values == ["60", "60"] and not rows["param n_estimators"].differs
    assert rows["holdout roc_auc"].values == ["0.7500", "0.7500"] and not rows["holdout roc_auc"].differs
    assert rows["holdout f1"].differs and rows["outcome"].differs
    assert rows["cv roc_auc"].values == ["-", "0.7400 ± 0.0100"]
    assert rows["vs champion"].values == ["-", "+0.0100 [-0.0050, +0.0200]"]
    assert rows["seconds"].values == ["42.0", "42.0"]
    assert "decision threshold" not in rows  # neither picked one


def test_compare_names_the_features_a_spec_change_added_or_dropped_between_runs() -> None:
    first = record("run-1", features=["age", "plan", "tenure"])
    second = record("run-2", features=["age", "plan", "region"])
    failed = record("run-3", features=[], outcome="failed at Validate: DataValidationError: …")
    rows = {r.field: r for r in compare_rows([first, second, failed])}
    assert rows["features"].values == ["3", "3", "-"]
    assert rows["feature region"].values == ["no", "yes", "-"] and rows["feature region"].differs
    assert rows["feature tenure"].values == ["yes", "no", "-"]
    assert "feature age" not in rows and "feature plan" not in rows  # read by every trained run: no row
    assert "  features (3): age, plan, region" in show_lines(second)
    assert not any(line.startswith("  features") for line in show_lines(failed))


def test_a_search_trial_says_its_metrics_are_cross_validation_means_not_the_holdouts() -> None:
    cv = {"roc_auc": CrossValidation(folds=3, mean=0.74, sd=0.01)}
    trial = record("run-1-trial-001", parent_run_id="run-1", trial=1, status=RunStatus.TRIAL, outcome="best",
                   metrics={"roc_auc": 0.74}, cross_validation=cv, params={"max_depth": 4})  # fmt: skip
    assert "  cross-validation means: roc_auc 0.7400" in show_lines(trial)
    assert not any(line.startswith("  holdout") for line in show_lines(trial))
    assert "  holdout: f1 0.3000, roc_auc 0.7500" in show_lines(record("run-1"))
    # the parent lists its trials with the metric they were scored by
    assert "  trial 1 (best): roc_auc 0.7400 ± 0.0100 with max_depth=4" in show_lines(record("run-1"), [trial])


@pytest.mark.parametrize(
    ("reason", "line"),
    [("schedule", "  trigger: schedule"), ("", "  trigger: schedule"), ("drift", "  trigger: schedule (drift)")],
)
def test_a_runs_trigger_is_told_with_its_reason_only_when_that_says_more(reason: str, line: str) -> None:
    assert line in show_lines(record("run-1", trigger="schedule", reason=reason, event_id=None))


def test_a_run_a_person_started_names_them() -> None:
    started = record("run-1", trigger="manual", reason="cli", event_id=None, started_by="arn:aws:iam::1:user/erin")
    assert "  trigger: manual (cli), started by arn:aws:iam::1:user/erin" in show_lines(started)


def test_the_decision_threshold_a_run_picked_is_shown_and_compared() -> None:
    picked = record("run-2", threshold=0.30971)
    assert "  decision threshold: 0.3097 (metrics.threshold, picked on the holdout)" in show_lines(picked)
    rows = {r.field: r for r in compare_rows([record("run-1"), picked])}
    assert rows["decision threshold"].values == ["-", "0.3097"] and rows["decision threshold"].differs


def test_a_run_compared_on_the_rows_its_champion_did_not_train_on_shows_both_there() -> None:
    compared = record(
        "run-2", champion_version=1, champion_metrics={"roc_auc": 0.8012}, compared_rows=140,
        compared_metrics={"roc_auc": 0.8133},
    )  # fmt: skip
    shown = show_lines(compared)
    assert "  vs champion v1 on the 140 holdout rows it did not train on: roc_auc 0.8133 vs 0.8012" in shown
    assert not any("did not train on" in line for line in show_lines(record("run-1")))


def test_a_run_shows_its_primary_metric_per_segment_worst_first() -> None:
    segments = [
        SegmentMetrics(column="plan", value="basic", rows=120, metrics={"roc_auc": 0.81, "f1": 0.4}),
        SegmentMetrics(column="plan", value="premium", rows=12, metrics={"f1": 0.0}),  # one class: no ROC AUC
        SegmentMetrics(column="plan", value="standard", rows=95, metrics={"roc_auc": 0.6123}),
        SegmentMetrics(column="region", value="(null)", rows=40, metrics={"roc_auc": 0.7}),
    ]
    shown = show_lines(record("run-2", segments=segments))
    assert (
        "  roc_auc by plan, worst first: standard 0.6123 (95 rows), basic 0.8100 (120 rows), premium - (12 rows)"
    ) in shown
    assert "  roc_auc by region, worst first: (null) 0.7000 (40 rows)" in shown
    # an error metric's worst is its highest
    errors = [
        SegmentMetrics(column="plan", value="basic", rows=50, metrics={"rmse": 1.5}),
        SegmentMetrics(column="plan", value="premium", rows=50, metrics={"rmse": 2.5}),
    ]
    shown = show_lines(record("run-3", primary_metric="rmse", metrics={"rmse": 2.0}, segments=errors))
    assert "  rmse by plan, worst first: premium 2.5000 (50 rows), basic 1.5000 (50 rows)" in shown
    assert not any("worst first" in line for line in show_lines(record("run-1")))


def test_list_rows_and_show_lines_say_what_a_person_asks_first() -> None:
    [line] = list_rows([record("run-1")])
    assert (line["run_id"], line["value"], line["seconds"], line["outcome"]) == ("run-1", 0.75, 42.0, "registered v1")
    shown = "\n".join(show_lines(record("run-1")))
    assert shown.startswith("Run run-1 of churn: registered v1")
    assert "data: dataset s3://d/datasets/churn/a.csv (6000 rows" in shown
    assert "batch: 1 job(s), 3.0 vCPU-s, 12.0 GB-s, about $0.000050 on Fargate" in shown


def test_a_rejected_runs_line_says_why_the_gate_rejected_it() -> None:
    reason = "roc_auc 0.7515 is worse than champion v1's 0.8757"
    [line] = list_rows([record("run-2", outcome="rejected", gate_passed=False, gate_reason=reason)])
    assert (line["outcome"], line["gate_passed"], line["gate_reason"]) == ("rejected", False, reason)
    assert outcome_text(line) == f"rejected: {reason}"
    [line] = list_rows([record("run-1", gate_passed=True)])
    assert (line["gate_passed"], line["gate_reason"], outcome_text(line)) == (True, "", "registered v1")
    [line] = list_rows([record("run-3", outcome="rejected", gate_passed=False)])  # no reason recorded
    assert outcome_text(line) == "rejected"


def test_a_registered_runs_line_says_what_became_of_its_version_since() -> None:
    from infra.runs_view import decisions
    from mlcore.registry import AuditRecord

    def changed(version: Any, to: str, actor: str, reason: str = "") -> AuditRecord:
        details = {"version": version, "from": "pending", "to": to, "reason": reason}
        return AuditRecord(at=START.isoformat(), action="status_changed", actor=actor, details=details)

    # GIVEN version 1 approved, then rejected by a person with a reason; version 2 never decided on
    trail = [changed(1, "approved", "bob"), changed(1, "rejected", "alice", "too slow"), changed("x", "archived", "c")]
    trail.insert(1, AuditRecord(at=START.isoformat(), action="alias_moved", actor="bob", details={"version": 1}))
    decided = decisions(trail)
    assert decided == {1: "rejected by alice: too slow"}  # the last decision; other actions and bad records ignored
    # WHEN the runs are listed and shown THEN the registered run says what became of its version since
    [line] = list_rows([record("run-1")], decided=decided)
    assert (line["since"], outcome_text(line)) == ("rejected by alice: too slow", "registered v1, then rejected by "
                                                   "alice: too slow")  # fmt: skip
    assert show_lines(record("run-1"), since=decided[1])[0] == (
        "Run run-1 of churn: registered v1, then rejected by alice: too slow"
    )
    [line] = list_rows([record("run-2", outcome="registered v2", version=2)], decided=decided)
    assert (line["since"], outcome_text(line)) == (None, "registered v2")
    [line] = list_rows([record("run-3", outcome="skipped: nothing new", status=RunStatus.SKIPPED, version=None)],
                       decided=decided)  # fmt: skip
    assert line["since"] is None


def test_an_exported_row_has_every_column_with_nested_fields_as_json() -> None:
    exported = row(record("run-1"))
    assert exported["primary_value"] == 0.75 and exported["cost_usd"] == 0.00005
    assert json.loads(exported["params"]) == {"n_estimators": 60, "max_depth": 8}
    assert json.loads(exported["datasets"])[0]["rows"] == 6000
    assert exported["cross_validation"] is None and exported["status"] == "registered"
    assert json.loads(row(record("run-2", features=["age", "plan"]))["features"]) == ["age", "plan"]
