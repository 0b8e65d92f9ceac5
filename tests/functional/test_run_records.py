"""Run records on moto: every outcome recorded from what the run left, stored once, found by id, exported."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from mlcore.catalog import (
    CrossValidation,
    EvaluateResult,
    PipelineInput,
    RecordRunRequest,
    RunFile,
    SegmentMetrics,
    SignatureField,
    TrainingResult,
    run_key,
)
from mlcore.errors import ConflictError, NotFoundError
from mlcore.registry import Registry, RunRecord
from mlcore.runs import build_record, export_runs
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def request(outcome: str, state: dict[str, Any] | None = None, run_id: str = "run-1") -> RecordRunRequest:
    return RecordRunRequest(
        model_name="churn",
        run_id=run_id,
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:training:{run_id}",
        outcome=outcome,  # type: ignore[arg-type]
        input=PipelineInput(model_name="churn", reason="drift: 3 features", trigger="drift", event_id="c1"),
        state=state or {},
    )


def build(registry: Registry, artifacts: ObjectStore, outcome: str, state: dict[str, Any] | None = None) -> RunRecord:
    record, children = build_record(
        request(outcome, state),
        registry=registry,
        artifacts=artifacts,
        history=[],
        started_at=START.isoformat(),
        code_version="abc123",
        now=START + timedelta(seconds=30),
    )
    assert children == []
    return record


@pytest.fixture
def registered(registry: Registry, churn_spec: ModelSpec) -> Registry:
    registry.put_spec(churn_spec, actor="test")
    return registry


def test_a_skipped_run_is_recorded_with_its_trigger(registered: Registry, artifacts: ObjectStore) -> None:
    record = build(registered, artifacts, "skipped")
    assert (record.status, record.outcome, record.trigger, record.event_id) == (
        "skipped", "skipped: nothing new", "drift", "c1"
    )  # fmt: skip
    assert (record.code_version, record.reason, record.version) == ("abc123", "drift: 3 features", None)
    assert record.features == []  # nothing was trained
    assert len(record.spec_sha256) == 64 and record.params == {"n_estimators": 60, "max_depth": 8,
                                                               "min_samples_leaf": 5, "n_jobs": 1}  # fmt: skip


def test_a_run_that_trained_records_its_models_inputs(registered: Registry, artifacts: ObjectStore) -> None:
    candidate = TrainingResult(
        model_name="churn", run_id="run-1", estimator="random_forest_classifier", artifacts={},
        metrics={"roc_auc": 0.8}, parity_max_abs_diff=0.0,
        signature=[SignatureField(name="age", type="float", nullable=False),
                   SignatureField(name="plan", type="string", nullable=True)],
    )  # fmt: skip
    artifacts.put(run_key("churn", "run-1", RunFile.CANDIDATE), candidate.model_dump_json().encode())
    assert build(registered, artifacts, "rejected").features == ["age", "plan"]


def test_a_run_a_person_started_through_the_api_names_them(registered: Registry, artifacts: ObjectStore) -> None:
    started = request("skipped").model_copy(
        update={"input": PipelineInput(model_name="churn", reason="cli", started_by="arn:aws:iam::1:user/erin")}
    )
    record, _ = build_record(started, registry=registered, artifacts=artifacts, history=[],
                             started_at=START.isoformat(), code_version="abc123")  # fmt: skip
    assert record.started_by == "arn:aws:iam::1:user/erin"
    assert build(registered, artifacts, "skipped").started_by == ""  # a run the platform started: no one


def test_a_rejected_run_records_the_gates_reason(registered: Registry, artifacts: ObjectStore) -> None:
    verdict = EvaluateResult(
        model_name="churn", run_id="run-1", passed=False, reason="roc_auc 0.6 misses the minimum 0.7",
        primary_metric="roc_auc", candidate_metrics={"roc_auc": 0.6},
    )  # fmt: skip
    artifacts.put(run_key("churn", "run-1", RunFile.EVALUATION), verdict.model_dump_json().encode())
    record = build(registered, artifacts, "rejected")
    assert (record.status, record.outcome) == ("rejected", "rejected")
    assert (record.gate_passed, record.gate_reason) == (False, "roc_auc 0.6 misses the minimum 0.7")


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        (
            {"step": "Train", "report": {"message": "Train failed: ParityError: 2% of rows differ\nmore"}},
            "failed at Train: ParityError: 2% of rows differ",
        ),
        ({"step": "Validate", "error": {"Error": "States.Timeout", "Cause": ""}}, "failed at Validate: States.Timeout"),
    ],
)
def test_a_failed_run_says_where_and_why(
    registered: Registry, artifacts: ObjectStore, state: dict[str, Any], outcome: str
) -> None:
    record = build(registered, artifacts, "failed", state)
    assert (record.status, record.outcome) == ("failed", outcome)


def test_a_run_is_recorded_once_and_found_by_its_id(
    registered: Registry, artifacts: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = build(registered, artifacts, "skipped")
    registered.put_run(record)
    with pytest.raises(ConflictError, match="run run-1 is recorded already"):
        registered.put_run(record.model_copy(update={"outcome": "rewritten"}))
    reads: list[Any] = []
    made = registered.client.get_item
    monkeypatch.setattr(registered.client, "get_item", lambda **kw: reads.append(kw["ConsistentRead"]) or made(**kw))
    assert registered.get_run("run-1").outcome == "skipped: nothing new"
    assert reads == [True, True]  # its index item, then the run: a step that just recorded it finds it
    monkeypatch.undo()
    assert [r.run_id for r in registered.list_runs("churn")] == ["run-1"]
    with pytest.raises(NotFoundError, match="no run 'run-2' was recorded"):
        registered.get_run("run-2")


def test_a_run_whose_metric_is_undefined_on_its_rows_is_recorded_and_read_back(
    registered: Registry, artifacts: ObjectStore
) -> None:
    # ROC AUC of rows of one class is NaN: JSON's null, as it was stored, read as no number and broke the listing
    nan = float("nan")
    verdict = EvaluateResult(
        model_name="churn", run_id="run-1", passed=False, reason="roc_auc nan misses the minimum 0.7",
        primary_metric="roc_auc", candidate_metrics={"roc_auc": nan, "accuracy": 0.9},
    )  # fmt: skip
    artifacts.put(run_key("churn", "run-1", RunFile.EVALUATION), verdict.model_dump_json().encode())
    record = build(registered, artifacts, "rejected")  # reads the verdict back
    assert record.gate_reason == "roc_auc nan misses the minimum 0.7"
    record = record.model_copy(
        update={
            "metrics": {"roc_auc": nan, "accuracy": 0.9},
            "cross_validation": {"roc_auc": CrossValidation(folds=3, mean=nan, sd=nan)},
        }
    )
    registered.put_run(record)
    (listed,) = registered.list_runs("churn")
    assert math.isnan(listed.metrics["roc_auc"]) and listed.metrics["accuracy"] == 0.9
    assert listed.cross_validation is not None and math.isnan(listed.cross_validation["roc_auc"].mean)


def test_runs_are_listed_newest_first(registered: Registry, artifacts: ObjectStore) -> None:
    for minute, run_id in ((2, "b"), (1, "a"), (3, "c")):
        record = build(registered, artifacts, "skipped").model_copy(
            update={"run_id": run_id, "started_at": (START + timedelta(minutes=minute)).isoformat()}
        )
        registered.put_run(record)
    assert [r.run_id for r in registered.list_runs("churn")] == ["c", "b", "a"]
    assert [r.run_id for r in registered.list_runs("churn", limit=2)] == ["c", "b"]


def test_the_export_writes_the_models_partition_and_registers_it_in_glue(
    registered: Registry, artifacts: ObjectStore
) -> None:
    glue = boto3.client("glue", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "mlops_runs"})
    first = build(registered, artifacts, "skipped")
    second = first.model_copy(update={"run_id": "run-2"})
    for record in (first, second):  # the second finds the table and the partition there
        export_runs([record], artifacts=artifacts, glue=glue, database="mlops_runs")
    table = glue.get_table(DatabaseName="mlops_runs", Name="runs")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["model_name"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{artifacts.bucket}/exports/runs/"
    [partition] = glue.get_partitions(DatabaseName="mlops_runs", TableName="runs")["Partitions"]
    assert partition["Values"] == ["churn"]
    keys = sorted(artifacts.list_keys("exports/runs/model_name=churn/"))
    assert keys == ["exports/runs/model_name=churn/run-1.parquet", "exports/runs/model_name=churn/run-2.parquet"]
    rows = pq.read_table(io.BytesIO(artifacts.get(keys[0]))).to_pylist()
    assert (rows[0]["run_id"], rows[0]["outcome"], rows[0]["code_version"]) == (
        "run-1",
        "skipped: nothing new",
        "abc123",
    )


def test_a_table_of_an_earlier_release_gets_the_columns_added_since(
    registered: Registry, artifacts: ObjectStore
) -> None:
    from mlcore.runs.export import COLUMNS
    from mlcore.tables import register_partition

    glue = boto3.client("glue", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "mlops_runs"})
    # the table as the release before training_code (threshold, compared_rows and _metrics, segments, champion_metrics,
    # features) made it
    register_partition(
        glue,
        database="mlops_runs",
        table="runs",
        columns=COLUMNS[:-8],
        location=f"s3://{artifacts.bucket}/exports/runs/",
        partition=("model_name", "other"),
        partition_location=f"s3://{artifacts.bucket}/exports/runs/model_name=other/",
    )
    segment = SegmentMetrics(column="plan", value="basic", rows=40, metrics={"roc_auc": 0.7})
    record = build(registered, artifacts, "skipped").model_copy(
        update={
            "training_code": "s3://b/code/churn/ab/code.zip",
            "threshold": 0.31,
            "compared_rows": 140,
            "compared_metrics": {"roc_auc": 0.8},
            "champion_metrics": {"roc_auc": 0.79},
            "segments": [segment],
            "features": ["age", "plan"],
            "started_by": "arn:aws:iam::123456789012:user/erin",
        }
    )
    export_runs([record], artifacts=artifacts, glue=glue, database="mlops_runs")
    table = glue.get_table(DatabaseName="mlops_runs", Name="runs")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [name for name, _ in COLUMNS]
    [key] = artifacts.list_keys("exports/runs/model_name=churn/")
    [exported] = pq.read_table(io.BytesIO(artifacts.get(key))).to_pylist()
    assert (exported["training_code"], exported["threshold"]) == (record.training_code, 0.31)
    assert (exported["compared_rows"], json.loads(exported["compared_metrics"])) == (140, {"roc_auc": 0.8})
    assert json.loads(exported["champion_metrics"]) == {"roc_auc": 0.79}
    assert json.loads(exported["segments"]) == [segment.model_dump(mode="json")]
    assert json.loads(exported["features"]) == ["age", "plan"]
    assert exported["started_by"] == "arn:aws:iam::123456789012:user/erin"
