"""The training pipeline's steps on moto: validate, train, evaluate, register, promote."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from functional_helpers import csv_bytes
from sklearn.metrics import f1_score as sk_f1

from mlcore.catalog import (
    EvaluateRequest,
    EvaluateResult,
    PipelineInput,
    PromoteRequest,
    RecordRunRequest,
    RegisterRequest,
    RunFile,
    ValidateRequest,
    ValidateResult,
)
from mlcore.data import Profile, latest_dataset_key, read_parquet, to_parquet, validate_dataset
from mlcore.errors import (
    ArtifactIntegrityError,
    ConflictError,
    DataValidationError,
    GateFailedError,
    NotFoundError,
    TrainingError,
)
from mlcore.registry import (
    CHAMPION,
    Registry,
    VersionStatus,
    promote_version,
    register_candidate,
    render_model_card,
)
from mlcore.runs import build_record
from mlcore.serving import CaptureBuffer, PredictionService, load_served_model
from mlcore.spec import ModelSpec, Threshold, parse_spec
from mlcore.storage import ObjectStore, S3Uri, StoredObject
from mlcore.training import evaluate_candidate, table_columns, train_candidate

RUN = "churn-run-1"
DATASET_KEY = "datasets/churn/2025-03-01.csv"


def validate(
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    run_id: str = RUN,
    uri: str | None = None,
    *,
    force: bool = False,
) -> ValidateResult:
    request = ValidateRequest(request=PipelineInput(model_name="churn", dataset_uri=uri, force=force), run_id=run_id)
    return validate_dataset(request, registry=registry, data=data, artifacts=artifacts, capture=artifacts)


@pytest.fixture
def uploaded(registry: Registry, data: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table) -> str:
    """GIVEN the churn spec registered and a clean dataset uploaded."""
    registry.put_spec(churn_spec, actor="test")
    data.put(DATASET_KEY, csv_bytes(churn_dataset))
    return DATASET_KEY


def test_validate_snapshots_the_latest_dataset_and_splits_it(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_dataset: pa.Table
) -> None:
    result = validate(registry, data, artifacts)
    assert result.rows == churn_dataset.num_rows
    assert result.dataset.uri == f"s3://mlops-artifacts/runs/churn/{RUN}/dataset.csv"
    assert artifacts.get_verified(result.dataset) == data.get(uploaded)
    train, holdout = (
        read_parquet(artifacts.get_verified(result.train)),
        read_parquet(artifacts.get_verified(result.holdout)),
    )
    assert (train.num_rows, holdout.num_rows) == (750, 250)  # the spec's holdout_fraction of 0.25
    report = json.loads(artifacts.get_verified(result.report))
    assert report["failures"] == []
    assert report["run_id"] == RUN
    assert result.report.uri.endswith(f"runs/churn/{RUN}/validation.json")


@pytest.mark.parametrize(
    ("written", "chosen"),
    [
        # (key, seconds after the first upload): S3 lists times to the second; a tie goes to the later name
        ([("datasets/churn/march.csv", 0), ("datasets/churn/april.csv", 1)], "datasets/churn/april.csv"),
        ([("datasets/churn/b.csv", 1), ("datasets/churn/a.csv", 1)], "datasets/churn/b.csv"),
        ([("datasets/churn/b.csv", 1), ("datasets/churn/c.csv", 0)], "datasets/churn/b.csv"),
    ],
)
def test_the_dataset_written_last_is_the_newest_whatever_its_name(
    monkeypatch: pytest.MonkeyPatch, data: ObjectStore, written: list[tuple[str, int]], chosen: str
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    listed = [StoredObject(key, start + timedelta(seconds=offset), 10) for key, offset in written]
    monkeypatch.setattr(data, "list_objects", lambda prefix: listed if prefix == "datasets/churn/" else [])
    assert latest_dataset_key("churn", data) == chosen


def test_validate_split_is_deterministic(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore
) -> None:
    first = validate(registry, data, artifacts, run_id="a")
    second = validate(registry, data, artifacts, run_id="b")
    assert first.holdout.sha256 == second.holdout.sha256


def test_a_dataset_breaking_the_contract_is_refused_with_a_report(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> None:
    # GIVEN a dataset where some plans, from row 500 on, are unknown
    registry.put_spec(churn_spec, actor="test")
    plans = churn_dataset.column("plan").to_pylist()
    plans[500:504] = ["gold"] * 4
    broken = churn_dataset.set_column(churn_dataset.column_names.index("plan"), "plan", pa.array(plans))
    data.put(DATASET_KEY, csv_bytes(broken))
    before = registry.audit_trail("churn")
    # WHEN it is validated
    with pytest.raises(DataValidationError) as caught:
        validate(registry, data, artifacts)
    # THEN the error names the failure, the report is written, and the registry is untouched
    assert "categories(plan): 4 values outside" in caught.value.message
    # the first failing row located, with its value: in a file of a million rows there is no finding it otherwise
    assert "'premium'] (first at row 500, counted from 0: 'gold')" in caught.value.message
    report = json.loads(artifacts.get(f"runs/churn/{RUN}/validation.json"))
    [failure] = report["failures"]
    assert (failure["check"], failure["failed_rows"], failure["examples"]) == ("categories", 4, ["gold"] * 3)
    assert failure["rows"] == [500, 501, 502]
    html = artifacts.get(f"runs/churn/{RUN}/validation.html").decode()
    assert "1 blocking failure" in html and "gold" in html
    assert artifacts.list_keys(f"runs/churn/{RUN}/train") == []
    assert registry.audit_trail("churn") == before
    assert registry.list_versions("churn") == []


def test_validate_reads_csv_cells_as_the_spec_types_them(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> None:
    """Empty cells and `NA` in the nullable `data_usage_gb`, and in a nullable categorical, are nulls, not failures."""
    raw = churn_spec.model_dump(mode="json")
    for feature in raw["features"]:
        if feature["name"] == "plan":
            feature["nullable"] = True
    registry.put_spec(parse_spec(raw), actor="test")
    text = csv_bytes(churn_dataset).decode().splitlines()
    header = [name.strip('"') for name in text[0].split(",")]
    plan, usage = header.index("plan"), header.index("data_usage_gb")
    rows = [line.split(",") for line in text[1:]]
    for i, row in enumerate(rows[:40]):
        row[plan] = ["", "NA", "N/A", "null"][i % 4]
        row[usage] = ["", "NaN"][i % 2]
    data.put("datasets/churn/with-nulls.csv", "\n".join([text[0], *(",".join(r) for r in rows)]).encode())
    result = validate(registry, data, artifacts)
    assert (result.rows, result.warnings) == (churn_dataset.num_rows, [])


def test_validate_without_any_dataset_is_not_found(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> None:
    registry.put_spec(churn_spec, actor="test")
    with pytest.raises(NotFoundError, match="no dataset under s3://mlops-data/datasets/churn/"):
        validate(registry, data, artifacts)


def champion_trained(registry: Registry, data: ObjectStore, artifacts: ObjectStore) -> None:
    """v1 trained on the uploaded dataset by the pipeline's steps, registered and promoted."""
    validate(registry, data, artifacts)
    train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    evaluation = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id=RUN), registry=registry, artifacts=artifacts
    )
    register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    promote_version(PromoteRequest(model_name="churn", version=1), registry=registry)


def gated(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, run_id: str, *, force: bool = False
) -> tuple[Any, EvaluateResult]:
    """A run's candidate validated, trained and evaluated by the pipeline's steps, and the gate's decision."""
    validate(registry, data, artifacts, run_id=run_id, force=force)
    candidate = train_candidate("churn", run_id, registry=registry, artifacts=artifacts)
    decision = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id=run_id), registry=registry, artifacts=artifacts
    )
    return candidate, decision


def test_a_spec_that_adds_a_feature_is_compared_with_its_champion_and_one_that_drops_one_says_why_it_is_not(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_dataset: pa.Table
) -> None:
    # GIVEN v1 the champion, trained on the example spec's seven features
    champion_trained(registry, data, artifacts)
    spec = registry.get_spec("churn").model_dump(mode="json")
    # WHEN the spec adds a feature, and data with it arrives
    calls = churn_dataset.column("support_calls").to_numpy().astype(float)
    data.put(
        "datasets/churn/2099-01-01.parquet", to_parquet(churn_dataset.append_column("calls_sq", pa.array(calls**2)))
    )
    registry.put_spec(parse_spec({**spec, "features": [*spec["features"], {"name": "calls_sq", "type": "numeric"}]}),
                      actor="test")  # fmt: skip
    validate(registry, data, artifacts, run_id="churn-run-2", force=True)
    added = train_candidate("churn", "churn-run-2", registry=registry, artifacts=artifacts)
    # THEN the champion is scored on its own seven inputs, and compared
    assert (added.champion_version, added.champion_not_compared) == (1, "")
    assert added.champion_metrics is not None
    # WHEN the spec drops a feature the champion reads
    registry.put_spec(parse_spec({**spec, "features": [f for f in spec["features"] if f["name"] != "age"]}), actor="t")
    dropped, decision = gated(registry, data, artifacts, "churn-run-3", force=True)
    # THEN the run trains, and says why the champion was not compared
    assert (dropped.champion_version, dropped.champion_metrics) == (1, None)
    assert dropped.champion_not_compared == "it reads ['age'], which this spec does not have as it had them"
    assert "; not compared with champion v1: it reads ['age']" in decision.reason


def test_a_spec_with_other_classes_is_not_compared_with_a_champion_that_cannot_predict_them(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_dataset: pa.Table
) -> None:
    # GIVEN v1 the champion, a binary classifier of yes/no
    champion_trained(registry, data, artifacts)
    # WHEN the target gains a third class (every fifth row is now "maybe"), and data with it arrives
    labels = churn_dataset.column("churned").to_pylist()
    relabelled = ["maybe" if i % 5 == 0 else label for i, label in enumerate(labels)]
    three = churn_dataset.set_column(churn_dataset.schema.get_field_index("churned"), "churned", pa.array(relabelled))
    data.put("datasets/churn/2099-01-01.parquet", to_parquet(three))
    spec = registry.get_spec("churn").model_dump(mode="json")
    registry.put_spec(
        parse_spec({**spec, "metrics": {"primary": "roc_auc"}}), actor="test"
    )  # random labels: no minimum
    candidate, decision = gated(registry, data, artifacts, "churn-run-2")
    # THEN the champion's binary metrics are not set against the candidate's over three classes, and the gate says why
    assert (candidate.champion_version, candidate.champion_metrics) == (1, None)
    assert candidate.champion_not_compared == "its classes ['no', 'yes'] are not the candidate's ['maybe', 'no', 'yes']"
    assert "; not compared with champion v1: its classes ['no', 'yes']" in decision.reason


@pytest.mark.parametrize(
    "uri",
    [
        "s3://mlops-artifacts/datasets/churn/x.csv",  # another bucket
        "s3://mlops-data/datasets/other/x.csv",  # another model's data
        "s3://mlops-data/datasets/churnx/x.csv",  # a model whose name starts like this one's
    ],
)
def test_validate_refuses_a_dataset_that_is_not_the_models(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, uri: str
) -> None:
    data.put(S3Uri.parse(uri).key, data.get(uploaded))
    with pytest.raises(DataValidationError) as caught:
        validate(registry, data, artifacts, uri=uri)
    assert caught.value.field == "dataset_uri"


def test_validate_reads_an_explicit_dataset_uri(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore
) -> None:
    data.put("datasets/churn/2099-01-01.csv", b"not,a,churn,dataset\n")  # newer, but not the one asked for
    result = validate(registry, data, artifacts, uri=f"s3://mlops-data/{uploaded}")
    assert result.rows == 1000


def test_full_pipeline_trains_registers_and_promotes(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore
) -> None:
    # GIVEN a validated dataset
    validate(registry, data, artifacts)
    # WHEN the training job runs
    trained = train_candidate("churn", RUN, registry=registry, artifacts=artifacts, image="training:test")
    assert trained.metrics["roc_auc"] >= 0.7
    assert trained.parity_max_abs_diff < 1e-3
    assert trained.champion_version is None
    assert set(trained.artifacts) == {"model", "profile"}
    profile = Profile.model_validate_json(artifacts.get_verified(trained.artifacts["profile"]))
    assert set(profile.features) == set(registry.get_spec("churn").feature_names)
    # AND the gate evaluates it
    evaluation = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id=RUN), registry=registry, artifacts=artifacts
    )
    assert evaluation.passed, evaluation.reason
    assert evaluation.reason.startswith("first version: roc_auc")
    # (kept in the run's folder, where the run record reads it)
    kept = artifacts.client.get_object(Bucket=artifacts.bucket, Key=f"runs/churn/{RUN}/evaluation.json")
    assert kept["ContentType"] == "application/json"
    assert EvaluateResult.model_validate_json(kept["Body"].read()) == evaluation
    # AND it is registered (twice: the second call is a retry of the same run)
    registered = register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    again = register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    assert (registered.version, registered.status, registered.approval_timeout_seconds) == (1, "approved", None)
    assert again == registered
    assert [v.version for v in registry.list_versions("churn")] == [1]
    version = registry.get_version("churn", 1)
    assert (version.run_id, version.image, version.classes) == (RUN, "training:test", ["no", "yes"])
    # AND promoted
    promoted = promote_version(PromoteRequest(model_name="churn", version=1), registry=registry)
    assert (promoted.version, promoted.previous_version) == (1, None)
    assert registry.get_alias("churn", CHAMPION).version == 1  # type: ignore[union-attr]
    # THEN promoting again changes nothing
    assert promote_version(PromoteRequest(model_name="churn", version=1), registry=registry) == promoted
    assert [r.action for r in registry.audit_trail("churn")].count("alias_moved") == 1

    # WHEN a second run would train on the same data, there is nothing new to learn
    same = validate(registry, data, artifacts, run_id="churn-run-2")
    assert (same.nothing_new, same.fingerprint, same.spec_changed) == (True, version.data_fingerprint, False)
    assert read_parquet(artifacts.get_verified(same.train)).num_rows == 0
    # (and says so when the spec changed since the champion was trained: only a forced run trains with it)
    document = registry.get_spec("churn").model_dump(mode="json")
    registry.put_spec(parse_spec({**document, "approval_timeout_hours": 24}), actor="test")
    assert validate(registry, data, artifacts, run_id="churn-run-2").spec_changed
    registry.put_spec(parse_spec(document), actor="test")
    # WHEN it is forced
    forced = validate(registry, data, artifacts, run_id="churn-run-2", force=True)
    assert not forced.nothing_new
    challenger = train_candidate("churn", "churn-run-2", registry=registry, artifacts=artifacts)
    # THEN it is scored against the champion on the same holdout
    assert challenger.champion_version == 1
    assert challenger.champion_metrics == pytest.approx(trained.metrics)
    decision = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id="churn-run-2"), registry=registry, artifacts=artifacts
    )
    assert decision.passed  # same data, same seed: not worse
    assert "vs champion v1's" in decision.reason
    # WHEN the champion is archived (no version falls back in its place), the next candidate is not the first
    registry.set_status("churn", 1, VersionStatus.ARCHIVED, "test", "retired")
    assert registry.get_alias("churn") is None
    validate(registry, data, artifacts, run_id="churn-run-3", force=True)
    train_candidate("churn", "churn-run-3", registry=registry, artifacts=artifacts)
    decision = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id="churn-run-3"), registry=registry, artifacts=artifacts
    )
    assert decision.reason.startswith("no champion serves (of 1 version): roc_auc")


def test_a_rejected_candidate_is_audited(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> None:
    demanding = parse_spec(
        {**churn_spec.model_dump(mode="json"), "metrics": {"primary": "roc_auc", "minimum": {"roc_auc": 0.99}}}
    )
    registry.put_spec(demanding, actor="test")
    validate(registry, data, artifacts)
    train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    decision = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id=RUN), registry=registry, artifacts=artifacts
    )
    assert not decision.passed
    assert "misses the minimum 0.99" in decision.reason
    [rejected] = [r for r in registry.audit_trail("churn") if r.action == "candidate_rejected"]
    assert rejected.details == {"run_id": RUN, "reason": decision.reason}
    # The register step refuses it even if a state machine routed it there by mistake.
    with pytest.raises(GateFailedError, match="failed the evaluation gate"):
        register_candidate(RegisterRequest(evaluation=decision), registry=registry, artifacts=artifacts)
    assert registry.list_versions("churn") == []


def test_a_file_that_is_not_csv_is_a_data_validation_error(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore
) -> None:
    data.put("datasets/churn/broken.csv", b"a,b\n1,2,3\n")
    with pytest.raises(DataValidationError, match="cannot be read"):
        validate(registry, data, artifacts, uri=data.uri("datasets/churn/broken.csv"))


def test_manual_approval_registers_a_pending_version_that_cannot_be_promoted(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> None:
    manual = {**churn_spec.model_dump(mode="json"), "approval": "manual", "approval_timeout_hours": 0.5}
    registry.put_spec(parse_spec(manual), actor="test")
    validate(registry, data, artifacts)
    train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    evaluation = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id=RUN), registry=registry, artifacts=artifacts
    )
    registered = register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    assert registered.status == VersionStatus.PENDING
    assert registered.approval_timeout_seconds == 1800  # how long its pipeline waits for a decision
    with pytest.raises(ConflictError, match="only approved versions can be served"):
        promote_version(PromoteRequest(model_name="churn", version=registered.version), registry=registry)


def promote_first_run(registry: Registry, data: ObjectStore, artifacts: ObjectStore) -> None:
    validate(registry, data, artifacts)
    train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    evaluation = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id=RUN), registry=registry, artifacts=artifacts
    )
    registered = register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    promote_version(PromoteRequest(model_name="churn", version=registered.version), registry=registry)


def test_a_classifiers_version_counts_its_classes_and_its_card_shows_the_balance(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_dataset: pa.Table
) -> None:
    from mlcore.registry import render_model_card

    promote_first_run(registry, data, artifacts)
    version = registry.get_version("churn", 1)
    # THEN the counts are the dataset's labels, split as the training set and the holdout
    labels = churn_dataset.column("churned").to_pylist()
    assert version.training_classes is not None and version.holdout_classes is not None
    assert sum(version.training_classes.values()) == version.training_rows
    assert sum(version.holdout_classes.values()) == version.holdout_rows
    both = {k: version.training_classes[k] + version.holdout_classes.get(k, 0) for k in version.training_classes}
    assert both == {label: labels.count(label) for label in set(labels)}
    # AND the card says what share of the training rows each class is, beside the rows
    card = render_model_card(registry.get_spec("churn"), version, registry.audit_trail("churn"), None)
    share = version.training_classes["yes"] / version.training_rows
    assert f"of the training rows (holdout: no {version.holdout_classes['no']}, yes " in card
    assert f"yes {share:.1%}" in card


def test_a_dataset_whose_labels_were_swapped_waits_for_a_person_though_the_spec_approves_by_itself(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_dataset: pa.Table
) -> None:
    # GIVEN v1 the champion (approval: auto), and then the same rows uploaded with every label swapped
    promote_first_run(registry, data, artifacts)
    swapped = pc.if_else(pc.equal(churn_dataset["churned"], "yes"), "no", "yes")
    column = churn_dataset.schema.get_field_index("churned")
    data.put("datasets/churn/2025-03-02.csv", csv_bytes(churn_dataset.set_column(column, "churned", swapped)))
    # WHEN a run trains on them: its candidate beats the champion, scored on the swapped holdout
    validate(registry, data, artifacts, run_id="swapped")
    train_candidate("churn", "swapped", registry=registry, artifacts=artifacts)
    request = EvaluateRequest(model_name="churn", run_id="swapped")
    evaluation = evaluate_candidate(request, registry=registry, artifacts=artifacts)
    # THEN it passes the gate but is held: registered pending, the champion unmoved, the reason saying why
    assert evaluation.passed and evaluation.held.startswith("champion v1 scores roc_auc 0.")
    registered = register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    assert (registered.status, registered.held) == (VersionStatus.PENDING, evaluation.held)
    assert registered.approval_timeout_seconds is not None
    assert "held for a person: champion v1 scores" in registry.get_version("churn", registered.version).notes
    assert registry.champion("churn").version == 1  # type: ignore[union-attr]


def test_include_feedback_trains_on_the_labelled_served_rows_too(  # noqa: PLR0917 (pytest fixtures)
    uploaded: str,
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    capture: ObjectStore,
    churn_spec: ModelSpec,
    churn_dataset: pa.Table,
    capture_request: Any,
) -> None:
    from infra.local.example_data import churn_instances
    from mlcore.serving import record_feedback

    spec = parse_spec({**churn_spec.model_dump(mode="json", exclude_none=True), "retrain": {"include_feedback": True}})
    registry.put_spec(spec, actor="test")
    promote_first_run(registry, data, artifacts)
    # with nothing labelled yet, the run says where its window of served rows starts: the champion's training
    before = validate_dataset(
        ValidateRequest(request=PipelineInput(model_name="churn"), run_id="none-labelled"),
        registry=registry, data=data, artifacts=artifacts, capture=capture,
    )  # fmt: skip
    champion = registry.champion("churn")
    assert champion is not None
    [(source, rows, since)] = [(s.source, s.rows, s.since) for s in before.sources][1:]
    assert (source, rows) == ("feedback", 0)
    assert since is not None and datetime.fromisoformat(since) == datetime.fromisoformat(champion.created_at)
    assert before.nothing_new  # no row labelled: the champion's data, nothing new
    # GIVEN 30 served rows since the champion, 12 of them labelled (one of them twice: the first label wins)
    rows = churn_instances(30, seed=8)
    capture_request(capture, spec, rows, ["no"] * 30, at=datetime.now(UTC), request_id="served-1")
    labels = [{"request_id": "served-1", "row_index": i, "label": "yes" if i % 3 else "no"} for i in range(12)]
    labels.append({"request_id": "served-1", "row_index": 0, "label": "yes"})
    record_feedback(spec, json.dumps({"feedback": labels}), capture, ["no", "yes"])
    # WHEN a run validates its data
    request = ValidateRequest(request=PipelineInput(model_name="churn"), run_id="with-feedback")
    result = validate_dataset(request, registry=registry, data=data, artifacts=artifacts, capture=capture)
    # THEN it learns from both sources, and says how many rows each gave
    assert [(s.source, s.rows) for s in result.sources] == [("dataset", 1000), ("feedback", 12)]
    assert result.rows == 1012 and not result.nothing_new
    train = read_parquet(artifacts.get_verified(result.train))
    holdout = read_parquet(artifacts.get_verified(result.holdout))
    assert train.num_rows + holdout.num_rows == 1012
    # the served rows come with their first label: 8 churned, 4 stayed (row 0's relabelling is ignored)
    labels_seen = pa.concat_tables([train, holdout]).column("churned").to_pylist()
    in_dataset = churn_dataset.column("churned").to_pylist()
    assert (labels_seen.count("yes") - in_dataset.count("yes"), labels_seen.count("no") - in_dataset.count("no")) == (
        8,
        4,
    )
    # AND the same data again is nothing new
    again = validate_dataset(
        ValidateRequest(request=PipelineInput(model_name="churn"), run_id="again"),
        registry=registry, data=data, artifacts=artifacts, capture=capture,
    )  # fmt: skip
    assert again.fingerprint == result.fingerprint


def test_cross_validation_and_the_bootstrap_interval_are_recorded(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> None:
    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    spec = parse_spec({**raw, "data": {**raw["data"], "cv_folds": 3}, "metrics": {**raw["metrics"], "confidence": 0.9}})
    registry.put_spec(spec, actor="test")
    promote_first_run(registry, data, artifacts)
    first = read_candidate_json(artifacts, RUN)
    assert first["cross_validation"]["roc_auc"]["folds"] == 3
    assert 0.5 < first["cross_validation"]["roc_auc"]["mean"] < 1 and first["cross_validation"]["roc_auc"]["sd"] > 0
    assert first["comparison"] is None  # no champion to compare with
    assert first["params"]["n_estimators"] == spec.estimator.params["n_estimators"]
    assert first["params"]["criterion"] == "gini"  # a default, resolved
    # WHEN the same data is forced through again, the challenger is the champion's twin
    validate(registry, data, artifacts, run_id="twin", force=True)
    twin = train_candidate("churn", "twin", registry=registry, artifacts=artifacts)
    assert twin.comparison is not None
    assert (twin.comparison.difference, twin.comparison.low, twin.comparison.high) == (0.0, 0.0, 0.0)
    decision = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id="twin"), registry=registry, artifacts=artifacts
    )
    assert not decision.passed  # no better than noise: the lower end (0) is not above -tolerance (0)
    assert "the 90% interval of roc_auc (challenger - champion) is [+0.0000, +0.0000]" in decision.reason


def test_per_segment_metrics_are_gated_recorded_on_the_version_and_shown_on_its_card(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> None:
    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    segmented = {**raw["metrics"], "segments": ["region", "plan"], "min_segment_rows": 10}
    registry.put_spec(parse_spec({**raw, "metrics": {**segmented, "max_segment_gap": 0.0001}}), actor="test")
    validate(registry, data, artifacts)
    # WHEN the job trains, every metric is measured per region and per plan on the holdout
    trained = train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    for column in ("region", "plan"):
        rows = [s for s in trained.segments if s.column == column]
        assert sum(s.rows for s in rows) == trained.holdout_rows  # each holdout row in one segment
        assert {"roc_auc", "accuracy", "f1"} <= set(rows[0].metrics)
    assert {s.value for s in trained.segments if s.column == "plan"} == {"basic", "standard", "premium"}
    # THEN a gap no real model keeps fails the gate, naming the column and its worst and best segments
    decision = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id=RUN), registry=registry, artifacts=artifacts
    )
    assert not decision.passed
    assert "roc_auc differs by" in decision.reason and "more than metrics.max_segment_gap 0.0001" in decision.reason
    # and the rejected run's record keeps every segment's metrics, for `mlops runs show` to list them
    rejected, _ = build_record(
        RecordRunRequest(
            model_name="churn", run_id=RUN, execution_arn="arn:aws:states:us-east-1:123456789012:execution:t:1",
            outcome="rejected", input=PipelineInput(model_name="churn"),
        ),
        registry=registry, artifacts=artifacts, history=[], started_at=datetime.now(UTC).isoformat(), code_version="",
    )  # fmt: skip
    assert (rejected.gate_passed, rejected.segments) == (False, trained.segments)
    # WHEN the spec allows any gap, the same candidate passes and its version keeps the segments
    registry.put_spec(parse_spec({**raw, "metrics": {**segmented, "max_segment_gap": 1}}), actor="test")
    decision = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id=RUN), registry=registry, artifacts=artifacts
    )
    assert decision.passed and "within 1" in decision.reason
    registered = register_candidate(RegisterRequest(evaluation=decision), registry=registry, artifacts=artifacts)
    version = registry.get_version("churn", registered.version)
    assert version.segments == trained.segments
    # AND its card shows a row per segment
    card = render_model_card(registry.get_spec("churn"), version, registry.audit_trail("churn"))
    assert (
        "## Segments" in card
        and "The gate allows a gap in roc_auc of at most 1 between segments of at least 10 rows" in card
    )
    plans = {s.value: s.metrics["roc_auc"] for s in trained.segments if s.column == "plan"}
    premium = next(s for s in trained.segments if s.value == "premium")
    behind = max(plans.values()) - plans["premium"]
    accuracy = premium.metrics["accuracy"]
    assert f"| plan = premium | {premium.rows} | {plans['premium']:.4f} | {behind:.4f} | {accuracy:.4f} |\n" in card


def read_candidate_json(artifacts: ObjectStore, run_id: str) -> dict[str, Any]:
    return json.loads(artifacts.get(f"runs/churn/{run_id}/candidate.json"))


def test_a_search_scores_each_trial_and_the_best_one_is_refitted(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> None:
    from mlcore.training import best_trial, run_trial

    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    raw["estimator"]["search"] = {"params": {"max_depth": [2, 6], "n_estimators": [20]}, "strategy": "grid",
                                  "folds": 3, "parallel": 2}  # fmt: skip
    spec = parse_spec(raw)
    registry.put_spec(spec, actor="test")
    # GIVEN the validate step planned the grid's two trials
    inputs = validate(registry, data, artifacts)
    assert [(t.trial, json.loads(t.params)) for t in inputs.trials] == [
        ("0", {"max_depth": 2, "n_estimators": 20}),
        ("1", {"max_depth": 6, "n_estimators": 20}),
    ]
    assert inputs.parallel == 2
    # WHEN each trial runs, and a third with parameters the estimator refuses
    scores = [run_trial("churn", RUN, int(t.trial), json.loads(t.params), registry=registry, artifacts=artifacts)
              for t in inputs.trials]  # fmt: skip
    refused = run_trial("churn", RUN, 2, {"max_depth": -3}, registry=registry, artifacts=artifacts)
    # THEN each is scored by 3-fold cross-validation, and the refused one says why
    assert all(s["cross_validation"]["roc_auc"]["folds"] == 3 for s in scores)
    assert refused["error"].startswith("InvalidParameterError: The 'max_depth' parameter")
    best = max(scores, key=lambda s: s["cross_validation"]["roc_auc"]["mean"])
    assert best_trial(spec, RUN, artifacts)["trial"] == best["trial"]
    summary = json.loads(artifacts.get(f"runs/churn/{RUN}/search.json"))
    assert (summary["best"], summary["trials"], summary["failed"]) == (best["trial"], 3, 1)
    # AND the training job refits the best trial's parameters on the whole training set
    trained = train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    assert trained.params["max_depth"] == best["params"]["max_depth"]


def test_a_search_in_which_no_trial_was_scored_fails_the_training_step(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> None:
    from mlcore.errors import SearchError
    from mlcore.training import run_trial

    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    raw["estimator"]["search"] = {"params": {"max_depth": [-1, -2]}, "strategy": "grid"}
    registry.put_spec(parse_spec(raw), actor="test")
    inputs = validate(registry, data, artifacts)
    for t in inputs.trials:
        run_trial("churn", RUN, int(t.trial), json.loads(t.params), registry=registry, artifacts=artifacts)
    with pytest.raises(SearchError, match="none of the 2 trials of run churn-run-1 could be scored: trial 0: "):
        train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    # AND trials that fail alike (a misspelt parameter fails each) are told once
    raw["estimator"]["search"] = {"params": {"max_dept": [3, 4]}, "strategy": "grid"}
    registry.put_spec(parse_spec(raw), actor="test")
    inputs = validate(registry, data, artifacts, run_id="churn-run-2")
    for t in inputs.trials:
        run_trial("churn", "churn-run-2", int(t.trial), json.loads(t.params), registry=registry, artifacts=artifacts)
    with pytest.raises(SearchError) as caught:
        train_candidate("churn", "churn-run-2", registry=registry, artifacts=artifacts)
    assert caught.value.message == (
        "none of the 2 trials of run churn-run-2 could be scored: trials 0, 1: TrainingError: "
        "estimator.search.params.max_dept: not "
        "a parameter of RandomForestClassifier; did you mean 'max_depth'?"
    )


def test_a_lightgbm_trial_with_a_value_lightgbm_refuses_is_that_trials_result(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> None:
    from mlcore.errors import SearchError
    from mlcore.training import run_trial

    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    raw["estimator"] = {"kind": "lightgbm_classifier", "params": {"n_estimators": 10},
                        "search": {"params": {"num_leaves": [-3, 7, 1]}, "strategy": "grid", "folds": 2}}  # fmt: skip
    registry.put_spec(parse_spec(raw), actor="test")
    inputs = validate(registry, data, artifacts)
    # WHEN trial 0 (-3) and 1 (7) run, and trial 2's job fails before it writes anything (a crash, a time-out)
    refused = run_trial("churn", RUN, 0, json.loads(inputs.trials[0].params), registry=registry, artifacts=artifacts)
    run_trial("churn", RUN, 1, json.loads(inputs.trials[1].params), registry=registry, artifacts=artifacts)
    # THEN LightGBM's refusal (its own error type, no ValueError) is the trial's result, in the spec's words
    assert refused["error"] == (
        "TrainingError: num_leaves: LightGBM takes only a value > 1 (estimator.params, or a search trial's)"
    )
    # AND the search refits trial 1, counting the trial that left no result among the failed
    assert train_candidate("churn", RUN, registry=registry, artifacts=artifacts).params["num_leaves"] == 7
    summary = json.loads(artifacts.get(f"runs/churn/{RUN}/search.json"))
    assert (summary["best"], summary["trials"], summary["failed"]) == (1, 3, 2)
    # AND with no trial scored, each is named with why, the lost one too
    artifacts.client.delete_object(Bucket=artifacts.bucket, Key=f"runs/churn/{RUN}/trials/0001.json")
    with pytest.raises(SearchError) as caught:
        train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    assert caught.value.message.startswith("none of the 3 trials of run churn-run-1 could be scored: trial 0: Training")
    assert "trials 1, 2: no result: its Batch job failed before writing one" in caught.value.message


def with_estimator(spec: ModelSpec, estimator: dict[str, Any], metrics: dict[str, Any]) -> ModelSpec:
    raw = spec.model_dump(mode="json")
    raw["estimator"] = estimator
    raw["metrics"] = metrics
    return parse_spec(raw)


@pytest.mark.boosting
def test_a_lightgbm_classifier_with_a_tuned_threshold_is_served_by_it(  # noqa: PLR0917 (pytest fixtures)
    uploaded: str,
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    capture: ObjectStore,
    churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:
    # GIVEN a LightGBM classifier whose spec asks for the F1-best threshold
    tuned = with_estimator(
        churn_spec,
        {"kind": "lightgbm_classifier", "params": {"n_estimators": 60}, "class_weight": "balanced"},
        {"primary": "average_precision", "minimum": {"recall_at_precision@0.5": 0.0}, "threshold": {"optimize": "f1"}},
    )
    registry.put_spec(tuned, actor="test")
    inputs = validate(registry, data, artifacts)
    # WHEN it is trained, gated, registered and promoted
    trained = train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    evaluation = evaluate_candidate(
        EvaluateRequest(model_name="churn", run_id=RUN), registry=registry, artifacts=artifacts
    )
    register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    promote_version(PromoteRequest(model_name="churn", version=1), registry=registry)
    # THEN the threshold is the holdout's F1-best, recorded on the version with the metrics it gives
    assert trained.parity_max_abs_diff < 1e-5
    assert {"average_precision", "precision", "recall", "recall_at_precision@0.5"} <= trained.metrics.keys()
    assert trained.params["class_weight"] == "balanced"  # applied as sample weights: the run records it all the same
    version = registry.get_version("churn", 1)
    assert version.threshold == trained.threshold
    assert version.threshold is not None and 0 < version.threshold < 1
    holdout = read_parquet(artifacts.get_verified(inputs.holdout))
    model = load_served_model(version, artifacts)
    proba = model.predict(table_columns(holdout, tuned))["probabilities"][:, 1]
    truth = np.asarray(holdout.column("churned").to_pylist()) == "yes"
    best = max(sk_f1(truth, proba >= t) for t in np.unique(proba))
    assert trained.metrics["f1"] == pytest.approx(best)
    card = render_model_card(tuned, version, [])
    assert f"- Decision: `yes` when its probability is at least {version.threshold:.6g} (picked on the holdout" in card
    assert "(picked on the holdout for the best f1)" in card
    # a threshold that keeps a precision says which
    keeping = tuned.model_copy(update={"metrics": tuned.metrics.model_copy(update={
        "threshold": Threshold(optimize="recall_at_precision", precision=0.8)})})  # fmt: skip
    assert "(picked on the holdout for the best recall_at_precision at precision 0.8 or more)" in render_model_card(
        keeping, version, []
    )
    assert "class weights balanced" in card
    assert set(version.importance) == set(tuned.feature_names)
    top = max(version.importance, key=lambda name: version.importance[name])
    assert f"| {top} | {version.importance[top]:+.4f} | {'█' * 20} |" in card  # the largest loss: a full bar
    # AND the API labels rows by it and says so
    service = PredictionService(
        registry, artifacts, CaptureBuffer(capture, max_rows=1), max_rows=100, alias_ttl_seconds=60
    )
    assert service.describe("churn")["threshold"] == version.threshold
    rows = churn_dataset.drop_columns(["churned"]).slice(0, 50).to_pylist()
    response, _ = service.predict("churn", json.dumps({"instances": rows}), "req-1")
    expected = ["yes" if p["yes"] >= version.threshold else "no" for p in response["probabilities"]]
    assert response["predictions"] == expected
    assert expected != ["yes" if p["yes"] >= 0.5 else "no" for p in response["probabilities"]]  # it mattered


def test_a_threshold_on_more_than_two_classes_fails_the_training_naming_them(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> None:
    three = churn_dataset.set_column(
        churn_dataset.column_names.index("churned"),
        "churned",
        pa.array([["no", "yes", "maybe"][i % 3] for i in range(churn_dataset.num_rows)]),
    )
    registry.put_spec(
        with_estimator(churn_spec, {"kind": "logistic_regression"}, {"primary": "f1", "threshold": {"optimize": "f1"}}),
        actor="test",
    )
    data.put(DATASET_KEY, csv_bytes(three))
    validate(registry, data, artifacts)
    with pytest.raises(TrainingError, match=r"metrics\.threshold is for binary classifiers; .churn. has classes"):
        train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    assert artifacts.list_keys(f"runs/churn/{RUN}/candidate") == []


@pytest.mark.parametrize(
    ("declared", "unlearned"),
    [(["no", "yes"], None), (["no", "yes", "maybe"], "['maybe']"), (["maybe", "no", "yes", "Yes"], "['maybe', 'Yes']")],
)
def test_a_declared_class_without_a_training_row_fails_the_training_naming_it(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    churn_spec: ModelSpec,
    churn_dataset: pa.Table,
    declared: list[str],
    unlearned: str | None,
) -> None:
    # GIVEN a spec whose `classes` list labels the data has (no/yes), or more than it has
    registry.put_spec(parse_spec({**churn_spec.model_dump(mode="json"), "classes": declared}), actor="test")
    data.put(DATASET_KEY, csv_bytes(churn_dataset))
    validate(registry, data, artifacts)
    if unlearned is None:  # every class has rows: the model trains
        assert train_candidate("churn", RUN, registry=registry, artifacts=artifacts).classes == ["no", "yes"]
        return
    # WHEN a listed class has no row THEN the training fails naming it, before a candidate is written
    with pytest.raises(TrainingError) as caught:
        train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    assert str(caught.value).startswith(
        f"target 'churned': the spec's classes list {unlearned}, which no training row has, so the model could never "
        "predict"
    )
    assert "it learned ['no', 'yes']" in str(caught.value)
    assert artifacts.list_keys(f"runs/churn/{RUN}/candidate") == []


def test_training_rows_of_one_class_fail_the_training_naming_it_and_the_others_listed(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> None:
    # GIVEN data whose every row churned, for a spec whose classes are no and yes
    registry.put_spec(parse_spec({**churn_spec.model_dump(mode="json"), "classes": ["no", "yes"]}), actor="test")
    churned = churn_dataset.filter(pc.equal(churn_dataset.column("churned"), "yes"))
    data.put(DATASET_KEY, csv_bytes(pa.concat_tables([churned, churned])))  # as many rows as the contract needs
    validate(registry, data, artifacts)
    # WHEN the job trains THEN it fails naming the one class and the one without rows, not with scikit-learn's error
    with pytest.raises(TrainingError) as caught:
        train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    message = str(caught.value)
    assert message.startswith("target 'churned': every training row (")
    assert message.endswith(
        ") is labelled 'yes': a classifier learns from rows of two classes at least; the spec's classes also list "
        "['no'], which no training row has"
    )
    assert artifacts.list_keys(f"runs/churn/{RUN}/candidate") == []


@pytest.mark.parametrize(("spot", "queue"), [(False, "fargate"), (True, "fargate_spot")])
def test_validate_plans_the_jobs_queue_and_size_from_the_spec(  # noqa: PLR0917 (pytest fixtures)
    uploaded: str,
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    churn_spec: ModelSpec,
    spot: bool,
    queue: str,
) -> None:
    from mlcore.catalog import JOB_QUEUES

    raw = churn_spec.model_dump(mode="json")
    raw["training"] = {"resources": {"vcpus": 4, "memory_gb": 12, "spot": spot}}
    registry.put_spec(parse_spec(raw), actor="test")
    plan = validate(registry, data, artifacts).job
    assert JOB_QUEUES[plan.queue] == queue
    assert plan.resources == [{"Type": "VCPU", "Value": "4"}, {"Type": "MEMORY", "Value": "12288"}]


def test_gpu_jobs_go_to_the_gpu_queue_only_where_the_deployment_has_one(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> None:
    from mlcore.catalog import JOB_DEFINITIONS, JOB_QUEUES

    raw = churn_spec.model_dump(mode="json")
    raw["training"] = {"resources": {"vcpus": 4, "memory_gb": 15, "gpu": 1}}
    registry.put_spec(parse_spec(raw), actor="test")
    request = ValidateRequest(request=PipelineInput(model_name="churn"), run_id=RUN)
    # WHEN the deployment has no GPU queue THEN the run stops at validate, naming the field and the flag
    with pytest.raises(DataValidationError, match=r"has no GPU queue \(deploy it with the context flag mlops:gpuJobs"):
        validate_dataset(request, registry=registry, data=data, artifacts=artifacts, capture=artifacts)
    # WHEN it has one THEN the jobs go to it, on the EC2 definition, with the GPU asked for
    plan = validate_dataset(
        request, registry=registry, data=data, artifacts=artifacts, capture=artifacts, gpu_jobs=True
    ).job
    assert (JOB_QUEUES[plan.queue], JOB_DEFINITIONS[plan.definition]) == ("ec2_gpu", "ec2_gpu")
    assert {"Type": "GPU", "Value": "1"} in plan.resources


@pytest.mark.parametrize("side", [RunFile.TRAIN, RunFile.HOLDOUT])
def test_the_training_job_refuses_a_split_changed_after_validation(  # noqa: PLR0917 (pytest fixtures)
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, side: RunFile
) -> None:
    # GIVEN a validated run, one side of whose split was overwritten afterwards (rows added, say)
    registry.put_spec(churn_spec, actor="test")
    validate(registry, data, artifacts)
    key = f"runs/churn/{RUN}/{side}"
    tampered = read_parquet(artifacts.get(key))
    artifacts.put(key, to_parquet(pa.concat_tables([tampered, tampered.slice(0, 1)])))
    # WHEN the training job reads it THEN it refuses, naming the file, and no candidate is written
    with pytest.raises(ArtifactIntegrityError, match=f"artifact s3://.*/{side} has SHA-256"):
        train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    assert artifacts.list_keys(f"runs/churn/{RUN}/candidate") == []


def test_two_register_steps_of_one_run_at_once_register_one_version(  # noqa: PLR0917 (pytest fixtures)
    uploaded: str,
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    churn_spec: ModelSpec,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a run that passed the gate
    registry.put_spec(churn_spec, actor="test")
    validate(registry, data, artifacts)
    train_candidate("churn", RUN, registry=registry, artifacts=artifacts)
    evaluation = evaluate_candidate(EvaluateRequest(model_name="churn", run_id=RUN), registry=registry,
                                    artifacts=artifacts)  # fmt: skip
    # WHEN two register steps of it both find no version yet (a retry racing the first attempt)
    found = registry.find_version_by_run
    calls = []

    def nothing_yet_the_first_two_times(name: str, run_id: str) -> Any:
        calls.append(run_id)
        return None if len(calls) <= 2 else found(name, run_id)

    monkeypatch.setattr(registry, "find_version_by_run", nothing_yet_the_first_two_times)
    first = register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    second = register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    # THEN both answer the same version, and it is the run's only one
    assert first.version == second.version == 1
    assert [v.version for v in registry.list_versions("churn")] == [1]


def test_a_run_in_flight_when_its_model_is_retired_neither_trains_nor_promotes(
    uploaded: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore
) -> None:
    from mlcore.data import validate_step
    from mlcore.errors import ModelRetiredError

    validate(registry, data, artifacts)
    trained = train_candidate("churn", RUN, registry=registry, artifacts=artifacts, image="training:test")
    evaluation = evaluate_candidate(EvaluateRequest(model_name="churn", run_id=trained.run_id), registry=registry,
                                    artifacts=artifacts)  # fmt: skip
    # WHEN the model is retired while its run trains THEN Register makes no version of it
    spec = registry.get_spec("churn")
    registry.put_spec(spec.model_copy(update={"retired": True}), actor="test")
    with pytest.raises(ModelRetiredError):
        register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    assert registry.list_versions("churn") == []
    registry.put_spec(spec, actor="test")
    registered = register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    # WHEN it is retired between Register and Promote THEN Promote refuses: nothing serves
    registry.put_spec(spec.model_copy(update={"retired": True}), actor="test")
    with pytest.raises(ModelRetiredError):
        promote_version(PromoteRequest(model_name="churn", version=registered.version), registry=registry)
    assert registry.get_alias("churn", CHAMPION) is None
    # AND a run that starts now stops at its first step, before it reads any data
    request = ValidateRequest(request=PipelineInput(model_name="churn"), run_id="run-after")
    with pytest.raises(ModelRetiredError):
        validate_step(request, registry=registry, data=data, artifacts=artifacts, capture=artifacts)
    # AND back, the version it registered is promoted as before
    registry.put_spec(spec, actor="test")
    assert (
        promote_version(PromoteRequest(model_name="churn", version=registered.version), registry=registry).version == 1
    )
