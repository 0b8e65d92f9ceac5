"""Cross-validation scores its folds as the holdout is scored: label metrics at the decision threshold
`metrics.threshold` picks (on each fold's own rows, as the holdout's is picked on the holdout)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from infra.local.example_data import churn_table
from mlcore.data import enforce_contract
from mlcore.errors import TrainingError
from mlcore.spec import ModelSpec, parse_spec
from mlcore.training import cross_validate


def with_threshold(churn_spec: ModelSpec, threshold: dict[str, Any] | None) -> ModelSpec:
    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    raw["metrics"] = {**raw["metrics"], "threshold": threshold} if threshold else raw["metrics"]
    raw["estimator"]["params"] = {"n_estimators": 20, "max_depth": 4, "n_jobs": 1}
    return parse_spec(raw)


@pytest.fixture(scope="module")
def rows() -> pa.Table:
    from infra.local.example_data import EXAMPLE_SPEC
    from mlcore.spec import load_spec

    clean, _ = enforce_contract(churn_table(900, seed=4), load_spec(EXAMPLE_SPEC.read_text()))
    assert clean.num_rows == 900
    return clean


def test_label_metrics_are_taken_at_the_threshold_each_fold_picks_and_the_scores_are_unchanged(
    churn_spec: ModelSpec, rows: pa.Table
) -> None:
    at_half = cross_validate(with_threshold(churn_spec, None), rows, 3)
    picked = cross_validate(with_threshold(churn_spec, {"optimize": "f1"}), rows, 3)
    # the best F1 of a fold's thresholds is at least its F1 at 0.5; here, higher
    assert picked["f1"].mean > at_half["f1"].mean
    assert picked["recall"].mean > at_half["recall"].mean  # a lower threshold, on the churners (the rarer class)
    # what the probabilities tell does not depend on where labels are cut
    assert (picked["roc_auc"], picked["average_precision"]) == (at_half["roc_auc"], at_half["average_precision"])


def test_a_fold_where_no_threshold_reaches_the_precision_labels_no_row_positive(
    churn_spec: ModelSpec, rows: pa.Table
) -> None:
    # every feature alike, 70 % churners: every row gets the same score, 0.7, which labels all churners at 0.5,
    # and whose precision (0.7) is below the one asked for
    churned = ["yes"] * 630 + ["no"] * 270
    alike = pa.table({
        name: pa.array([rows.column(name)[0].as_py()] * 900, rows.column(name).type)
        for name in rows.column_names if name != "churned"
    } | {"churned": churned})  # fmt: skip
    assert cross_validate(with_threshold(churn_spec, None), alike, 3)["recall"].mean == 1.0
    found = cross_validate(with_threshold(churn_spec, {"optimize": "recall_at_precision", "precision": 1.0}), alike, 3)
    assert (found["recall"].mean, found["precision"].mean, found["f1"].mean) == (0.0, 0.0, 0.0)


def time_split(churn_spec: ModelSpec) -> ModelSpec:
    raw = with_threshold(churn_spec, None).model_dump(mode="json", exclude_none=True)
    return parse_spec({**raw, "data": {**raw["data"], "split": "time", "timestamp_column": "at"}})


def test_a_fold_fitted_on_one_class_is_left_out_and_counted_out(churn_spec: ModelSpec, rows: pa.Table) -> None:
    # the oldest quarter holds no churner: a time split's first of 3 folds fits on it alone
    labels = ["no"] * 225 + rows.column("churned").to_pylist()[225:]
    assert "yes" in labels[225:450]
    found = cross_validate(time_split(churn_spec), rows.set_column(rows.column_names.index("churned"), "churned",
                                                                     pa.array(labels)), 3)  # fmt: skip
    assert {score.folds for score in found.values()} == {2}
    # a second fold alike leaves one: no mean and spread to tell
    labels = ["no"] * 450 + rows.column("churned").to_pylist()[450:]
    with pytest.raises(TrainingError) as caught:
        cross_validate(time_split(churn_spec), rows.set_column(rows.column_names.index("churned"), "churned",
                                                                 pa.array(labels)), 3)  # fmt: skip
    assert caught.value.message == (
        "cross-validation: 2 of 3 folds would fit on rows of one class (a time split's oldest rows may hold one); "
        "fewer folds fit on more rows"
    )


def test_training_rows_of_one_class_are_named_as_such_not_as_folds(churn_spec: ModelSpec, rows: pa.Table) -> None:
    # (a search's trials cross-validate before any fit on the whole training set)
    labels = pa.array(["no"] * rows.num_rows)
    with pytest.raises(TrainingError) as caught:
        cross_validate(with_threshold(churn_spec, None), rows.set_column(rows.column_names.index("churned"), "churned",
                                                                           labels), 3)  # fmt: skip
    assert caught.value.message == (
        "target 'churned': every training row (900) is labelled 'no': a classifier learns from rows of two classes "
        "at least"
    )


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:Degrees of freedom")  # ROC AUC of one row
@pytest.mark.parametrize(("count", "refused"), [(5, True), (6, False)])
def test_folds_need_more_training_rows_than_folds(
    churn_spec: ModelSpec, rows: pa.Table, count: int, refused: bool
) -> None:
    spec = with_threshold(churn_spec, None)
    labels = pa.array(["yes", "no"] * 3)[:count]
    few = rows.slice(0, count).set_column(rows.column_names.index("churned"), "churned", labels)
    if refused:
        with pytest.raises(TrainingError, match=r"^cross-validation in 5 folds needs more than 5 training rows: 5$"):
            cross_validate(spec, few, 5)
    else:
        assert {score.folds for score in cross_validate(spec, few, 5).values()} == {5}
