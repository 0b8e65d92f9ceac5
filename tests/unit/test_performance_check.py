"""The monitor's live performance: it measures the metric it names, from the captured scores and labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlcore.monitoring import check_performance
from mlcore.registry import ModelVersion, VersionStatus
from mlcore.spec import ModelSpec, parse_spec
from mlcore.training import binary_auc, label_metrics

RNG = np.random.default_rng(3)
TRUTH = np.where(RNG.random(400) < 0.3, "yes", "no")
SCORES = np.clip((TRUTH == "yes") * 0.35 + RNG.random(400) * 0.65, 0, 1)
PREDICTIONS = np.where(SCORES >= 0.5, "yes", "no")


def champion(metrics: dict[str, float]) -> ModelVersion:
    return ModelVersion(
        model_name="churn", run_id="r", version=1, status=VersionStatus.APPROVED, created_at="2025-03-01T00:00:00",
        artifacts={}, metrics=metrics, signature=[], classes=["no", "yes"],
    )  # fmt: skip


def labelled(scores: Any = SCORES) -> pa.Table:
    return pa.table(
        {"prediction": PREDICTIONS, "score": pa.array(scores, pa.float64()), "label": pa.array(TRUTH.tolist())}
    )


def test_with_captured_scores_a_classifier_is_measured_by_its_roc_auc(churn_spec: ModelSpec) -> None:
    check = check_performance(churn_spec, champion({"roc_auc": 0.9, "accuracy": 0.8}), labelled())
    assert check is not None
    assert check.metric == churn_spec.metrics.primary == "roc_auc"
    assert check.live == pytest.approx(binary_auc(TRUTH == "yes", SCORES))
    assert check.degradation == pytest.approx(0.9 - check.live)
    assert check.labelled_rows == 400


def test_without_scores_it_says_it_measures_accuracy_and_does(churn_spec: ModelSpec) -> None:
    check = check_performance(churn_spec, champion({"roc_auc": 0.9, "accuracy": 0.8}), labelled([None] * 400))
    assert check is not None and check.metric == "accuracy"
    assert check.live == pytest.approx(label_metrics(TRUTH, PREDICTIONS, ["no", "yes"])["accuracy"])


@pytest.mark.parametrize(("scale", "degraded"), [(1.0, False), (0.999999, True)])
def test_degradation_just_at_the_allowed_fall_is_not_a_finding_and_just_past_it_is(
    churn_spec: ModelSpec, scale: float, degraded: bool
) -> None:
    holdout = binary_auc(TRUTH == "yes", SCORES) + 0.05
    fall = check_performance(churn_spec, champion({"roc_auc": holdout}), labelled())
    assert fall is not None
    drift = {**churn_spec.drift.model_dump(), "max_degradation": fall.degradation * scale}
    spec = parse_spec({**churn_spec.model_dump(mode="json", exclude_none=True), "drift": drift})
    check = check_performance(spec, champion({"roc_auc": holdout}), labelled())
    assert check is not None and check.degraded is degraded


def test_fewer_labelled_rows_than_the_minimum_give_no_verdict(churn_spec: ModelSpec) -> None:
    rows = churn_spec.drift.min_rows
    assert check_performance(churn_spec, champion({"roc_auc": 0.9}), labelled().slice(0, rows - 1)) is None
    assert check_performance(churn_spec, champion({"roc_auc": 0.9}), labelled().slice(0, rows)) is not None
