"""A candidate is compared with its champion only on holdout rows the champion did not train on.

A dataset that grows between runs is split afresh: rows the champion trained on land in the new holdout, where
a forest all but remembers them. Scored there, the champion would look better than it is, and a retrained
model that is in fact as good would be refused.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from functional_helpers import csv_bytes
from sklearn.metrics import roc_auc_score

from mlcore.catalog import EvaluateRequest, PromoteRequest, RegisterRequest, TrainingResult
from mlcore.data import read_parquet, row_hashes, validate_dataset
from mlcore.errors import ArtifactIntegrityError
from mlcore.registry import Registry, promote_version, register_candidate
from mlcore.serving import load_served_model
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore
from mlcore.training import evaluate_candidate, table_columns, train_candidate

FIRST = "datasets/churn/2025-03-01.csv"
GROWN = "datasets/churn/2025-04-01.csv"


def run(name: str, run_id: str, registry: Registry, data: ObjectStore, artifacts: ObjectStore) -> TrainingResult:
    from mlcore.catalog import PipelineInput, ValidateRequest

    request = ValidateRequest(request=PipelineInput(model_name=name, force=True), run_id=run_id)
    validate_dataset(request, registry=registry, data=data, artifacts=artifacts, capture=artifacts)
    return train_candidate(name, run_id, registry=registry, artifacts=artifacts)


def champion_v1(registry: Registry, data: ObjectStore, artifacts: ObjectStore, table: pa.Table) -> TrainingResult:
    """v1 trained on `table` and promoted."""
    data.put(FIRST, csv_bytes(table))
    first = run("churn", "run-1", registry, data, artifacts)
    evaluation = evaluate_candidate(EvaluateRequest(model_name="churn", run_id="run-1"), registry=registry,
                                    artifacts=artifacts)  # fmt: skip
    register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    promote_version(PromoteRequest(model_name="churn", version=1), registry=registry)
    return first


def rows_of(table: pa.Table, spec: ModelSpec) -> list[tuple[object, ...]]:
    names = [*spec.feature_names, spec.target]
    return list(zip(*(table.column(name).to_pylist() for name in names), strict=True))


@pytest.fixture
def grown(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> tuple[TrainingResult, TrainingResult, pa.Table]:
    """GIVEN v1 the champion, trained on the first 600 rows; WHEN the dataset grows to 1000 rows and a run trains."""
    registry.put_spec(churn_spec, actor="test")
    champion_v1(registry, data, artifacts, churn_dataset.slice(0, 600))
    data.put(GROWN, csv_bytes(churn_dataset))
    second = run("churn", "run-2", registry, data, artifacts)
    holdout = read_parquet(artifacts.get("runs/churn/run-2/holdout.parquet"))
    return run_result(artifacts, "run-1"), second, holdout


def run_result(artifacts: ObjectStore, run_id: str) -> TrainingResult:
    return TrainingResult.model_validate_json(artifacts.get(f"runs/churn/{run_id}/candidate.json"))


def test_the_champion_is_scored_only_on_the_new_holdout_rows_it_did_not_train_on(
    grown: tuple[TrainingResult, TrainingResult, pa.Table],
    registry: Registry,
    artifacts: ObjectStore,
    churn_spec: ModelSpec,
) -> None:
    first, second, holdout = grown
    v1_train = set(rows_of(read_parquet(artifacts.get("runs/churn/run-1/train.parquet")), churn_spec))
    unseen = np.array([row not in v1_train for row in rows_of(holdout, churn_spec)])
    # THEN the new holdout does hold rows v1 trained on, and they are left out of the comparison, no more
    assert 0 < (~unseen).sum() < len(unseen)
    assert second.compared_rows == unseen.sum() and second.holdout_rows == len(unseen)
    # and both models are scored on exactly those rows
    kept = holdout.filter(pa.array(unseen))
    truth = np.array(kept.column("churned").to_pylist()) == "yes"
    champion = load_served_model(registry.get_version("churn", 1), artifacts)
    theirs = roc_auc_score(truth, champion.predict(table_columns(kept, churn_spec))["probabilities"][:, 1])
    assert second.champion_metrics is not None and second.compared_metrics is not None
    assert second.champion_metrics["roc_auc"] == pytest.approx(theirs, abs=1e-9)
    ours = load_served_model(registry.get_version("churn", 1).model_copy(update={"artifacts": second.artifacts}),
                             artifacts)  # fmt: skip
    mine = roc_auc_score(truth, ours.predict(table_columns(kept, churn_spec))["probabilities"][:, 1])
    assert second.compared_metrics["roc_auc"] == pytest.approx(mine, abs=1e-9)
    # on the rows it trained on, the champion looks better than it is: what the comparison no longer counts
    every = np.array(holdout.column("churned").to_pylist()) == "yes"
    flattered = roc_auc_score(every, champion.predict(table_columns(holdout, churn_spec))["probabilities"][:, 1])
    assert flattered > theirs
    # and the gate says which rows it compared on
    decision = evaluate_candidate(EvaluateRequest(model_name="churn", run_id="run-2"), registry=registry,
                                  artifacts=artifacts)  # fmt: skip
    assert f"roc_auc {second.compared_metrics['roc_auc']:.4f}" in decision.reason
    assert f"on the {unseen.sum()} of {len(unseen)} holdout rows it did not train on" in decision.reason
    assert first.training_row_hashes is not None and first.compared_rows is None


def test_a_champion_that_trained_on_every_holdout_row_is_compared_on_them_saying_it_is_favoured(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> None:
    registry.put_spec(churn_spec, actor="test")
    champion_v1(registry, data, artifacts, churn_dataset)
    # WHEN the next dataset is only rows v1 trained on
    data.put(GROWN, csv_bytes(read_parquet(artifacts.get("runs/churn/run-1/train.parquet"))))
    second = run("churn", "run-2", registry, data, artifacts)
    # THEN no row is left to compare the two on fairly: they are compared on all of them (never not at all),
    # and the gate says the comparison favours the champion
    assert second.compared_rows is None and second.champion_metrics is not None
    assert second.champion_favoured_rows == second.holdout_rows
    decision = evaluate_candidate(EvaluateRequest(model_name="churn", run_id="run-2"), registry=registry,
                                  artifacts=artifacts)  # fmt: skip
    assert (
        f"on the same holdout, though it trained on {second.holdout_rows} of its {second.holdout_rows} rows "
        "(too few others to compare on: this favours the champion)"
    ) in decision.reason


def test_rows_both_models_trained_on_are_not_set_aside(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> None:
    """Discrete data repeats rows: a holdout row the candidate trained on too favours neither model."""
    registry.put_spec(churn_spec, actor="test")
    distinct = churn_dataset.slice(0, 250)
    champion_v1(registry, data, artifacts, pa.concat_tables([distinct] * 2))
    data.put(GROWN, csv_bytes(pa.concat_tables([distinct] * 3 + [churn_dataset.slice(250, 250)])))
    second = run("churn", "run-2", registry, data, artifacts)
    v1_train = set(rows_of(read_parquet(artifacts.get("runs/churn/run-1/train.parquet")), churn_spec))
    v2_train = set(rows_of(read_parquet(artifacts.get("runs/churn/run-2/train.parquet")), churn_spec))
    holdout = rows_of(read_parquet(artifacts.get("runs/churn/run-2/holdout.parquet")), churn_spec)
    alone = sum(row in v1_train and row not in v2_train for row in holdout)
    both = sum(row in v1_train and row in v2_train for row in holdout)
    assert both > 100 and 0 < alone < 30  # most repeated rows are in both models' training rows
    assert second.compared_rows == len(holdout) - alone


def test_the_same_dataset_again_compares_on_the_whole_holdout(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> None:
    registry.put_spec(churn_spec, actor="test")
    first = champion_v1(registry, data, artifacts, churn_dataset)
    second = run("churn", "run-2", registry, data, artifacts)  # the same rows, split the same way
    assert (second.compared_rows, second.compared_metrics) == (None, None)
    assert second.champion_metrics is not None
    assert second.champion_metrics["roc_auc"] == pytest.approx(first.metrics["roc_auc"], abs=1e-9)


def test_a_champion_registered_before_its_rows_were_kept_is_scored_on_the_whole_holdout(
    grown: tuple[TrainingResult, TrainingResult, pa.Table],
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, second, _ = grown
    older = registry.get_version("churn", 1).model_copy(update={"training_row_hashes": None})
    monkeypatch.setattr(Registry, "champion", lambda self, name: older)
    third = run("churn", "run-3", registry, data, artifacts)
    assert (third.compared_rows, third.compared_metrics) == (None, None)
    assert third.champion_metrics is not None and second.champion_metrics is not None
    assert third.champion_metrics["roc_auc"] > second.champion_metrics["roc_auc"]  # flattered, as before


def test_a_champion_whose_training_rows_file_was_altered_fails_the_run(
    grown: tuple[TrainingResult, TrainingResult, pa.Table], registry: Registry, data: ObjectStore,
    artifacts: ObjectStore,
) -> None:  # fmt: skip
    hashes = registry.get_version("churn", 1).training_row_hashes
    assert hashes is not None
    artifacts.put(hashes.uri.split("mlops-artifacts/", 1)[1], np.zeros(3, dtype="<u8").tobytes())
    with pytest.raises(ArtifactIntegrityError):
        run("churn", "run-3", registry, data, artifacts)


def test_row_hashes_name_a_row_by_its_values_alone() -> None:
    table = pa.table(
        {"a": [1.0, -0.0, None, 2.5, 1.0], "b": ["x", "y", None, "x", "x"], "y": ["no", "yes", "no", "no", "no"]}
    )
    hashes = row_hashes(table, ["a", "b", "y"])
    assert hashes[0] == hashes[4] and len(set(hashes.tolist())) == 4  # the same values, the same hash
    reordered = pa.table({"y": table["y"], "b": table["b"], "a": pa.array([1, 0, None, None, 1], pa.int64())})
    same = row_hashes(reordered, ["y", "b", "a"])
    assert same[0] == hashes[0] and same[1] == hashes[1] and same[2] == hashes[2]  # integers read as numbers, 0 as -0
    assert same[3] != hashes[3]  # 2.5 is not null
    # one value changed in any column is another row
    for column, value in (("a", 1.5), ("b", "z"), ("y", "yes")):
        changed = table.set_column(table.schema.get_field_index(column), column,
                                   pa.array([value, *table.column(column).to_pylist()[1:]]))  # fmt: skip
        assert row_hashes(changed, ["a", "b", "y"])[0] != hashes[0]
    # swapping two values between columns is another row too
    swapped = pa.table({"a": [1.0], "b": ["x"], "c": ["x"]})
    assert row_hashes(swapped, ["b", "c"])[0] == row_hashes(swapped, ["c", "b"])[0]
    pair = pa.table({"b": ["p"], "c": ["q"]})
    flipped = pa.table({"b": ["q"], "c": ["p"]})
    assert row_hashes(pair, ["b", "c"])[0] != row_hashes(flipped, ["b", "c"])[0]


def test_a_candidate_whose_training_rows_file_was_altered_is_not_registered(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table
) -> None:
    registry.put_spec(churn_spec, actor="test")
    data.put(FIRST, csv_bytes(churn_dataset))
    trained = run("churn", "run-1", registry, data, artifacts)
    assert trained.training_row_hashes is not None
    artifacts.put("runs/churn/run-1/training_rows.u64", np.zeros(3, dtype="<u8").tobytes())
    evaluation = evaluate_candidate(EvaluateRequest(model_name="churn", run_id="run-1"), registry=registry,
                                    artifacts=artifacts)  # fmt: skip
    with pytest.raises(ArtifactIntegrityError):
        register_candidate(RegisterRequest(evaluation=evaluation), registry=registry, artifacts=artifacts)
    assert registry.list_versions("churn") == []


def test_row_hashes_read_a_value_alike_however_arrow_holds_it() -> None:
    plain = pa.table({"n": pa.array([1, 2**60 + 1, None], pa.int64()), "t": pa.array(["a", "b", None])})
    encoded = pa.table({"n": pa.array([1, 2**60 + 1, None], pa.int64()).dictionary_encode(),
                        "t": pa.array(["a", "b", None]).dictionary_encode()})  # fmt: skip
    assert row_hashes(plain, ["n", "t"]).tolist() == row_hashes(encoded, ["n", "t"]).tolist()
    raw = pa.table({"b": pa.array([b"\xff\xfe", b"ok", None], pa.binary())})  # not UTF-8: hashed as bytes
    assert len(set(row_hashes(raw, ["b"]).tolist())) == 3
