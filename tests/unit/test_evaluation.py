"""Metrics against scikit-learn's, and the champion/challenger gate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics as sk

from mlcore.catalog import Comparison, SegmentMetrics, TrainingResult
from mlcore.errors import TrainingError
from mlcore.spec import ModelSpec, Threshold, parse_spec
from mlcore.training import (
    MIN_COMPARED_ROWS,
    apply_gate,
    classification_metrics,
    comparison_rows,
    paired_bootstrap,
    permutation_importance,
    pick_threshold,
    precision_at_recall,
    precision_recall_curve,
    recall_at_precision,
    regression_metrics,
    score,
    segment_metrics,
)

SEEDS = [0, 1, 2]


def random_probabilities(rng: np.random.Generator, rows: int, classes: int) -> np.ndarray:
    raw = rng.random((rows, classes)) + 0.01
    return raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_metrics_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = ["no", "yes"]
    truth = rng.choice(classes, 500)
    proba = random_probabilities(rng, 500, 2)
    guess = np.array(classes)[proba.argmax(axis=1)]
    ours = classification_metrics(truth, guess, proba, classes)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(truth, guess))
    assert ours["f1"] == pytest.approx(sk.f1_score(truth, guess, pos_label="yes"))
    assert ours["roc_auc"] == pytest.approx(sk.roc_auc_score(truth == "yes", proba[:, 1]))
    assert ours["log_loss"] == pytest.approx(sk.log_loss(truth, proba, labels=classes))


@pytest.mark.parametrize("seed", SEEDS)
def test_multiclass_metrics_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = ["basic", "premium", "standard"]
    truth = rng.choice(classes, 400)
    proba = random_probabilities(rng, 400, 3)
    guess = np.array(classes)[proba.argmax(axis=1)]
    ours = classification_metrics(truth, guess, proba, classes)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(truth, guess))
    assert ours["f1"] == pytest.approx(sk.f1_score(truth, guess, average="macro"))
    assert ours["roc_auc"] == pytest.approx(sk.roc_auc_score(truth, proba, multi_class="ovr", labels=classes))
    assert ours["log_loss"] == pytest.approx(sk.log_loss(truth, proba, labels=classes))


def test_auc_gives_tied_scores_average_ranks() -> None:
    rng = np.random.default_rng(4)
    truth = rng.choice(["no", "yes"], 300)
    # Scores rounded to one decimal: many ties, within and across classes.
    p_yes = np.round(rng.random(300), 1)
    proba = np.column_stack([1 - p_yes, p_yes])
    guess = np.where(p_yes >= 0.5, "yes", "no")
    ours = classification_metrics(truth, guess, proba, ["no", "yes"])
    assert ours["roc_auc"] == pytest.approx(sk.roc_auc_score(truth == "yes", p_yes))


def test_auc_of_constant_scores_is_one_half() -> None:
    proba = np.full((6, 2), 0.5)
    truth = np.array(["yes", "no", "yes", "no", "no", "yes"])
    assert classification_metrics(truth, truth, proba, ["no", "yes"])["roc_auc"] == pytest.approx(0.5)


def test_auc_is_undefined_with_one_class_only() -> None:
    truth = np.array(["no"] * 5)
    proba = np.tile([0.8, 0.2], (5, 1))
    assert np.isnan(classification_metrics(truth, truth, proba, ["no", "yes"])["roc_auc"])


def test_log_loss_is_finite_for_a_confidently_wrong_model() -> None:
    truth = np.array(["yes", "no"])
    proba = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert np.isfinite(classification_metrics(truth, np.array(["no", "yes"]), proba, ["no", "yes"])["log_loss"])


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_metrics_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.normal(100, 20, 300)
    guess = truth + rng.normal(0, 8, 300)
    ours = regression_metrics(truth, guess)
    assert ours["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(truth, guess)))
    assert ours["mae"] == pytest.approx(sk.mean_absolute_error(truth, guess))
    assert ours["r2"] == pytest.approx(sk.r2_score(truth, guess))


def test_regression_metrics_accept_column_predictions() -> None:
    truth = np.array([1.0, 2.0, 3.0])
    assert regression_metrics(truth, truth.reshape(-1, 1))["rmse"] == 0.0


# -- the gate ------------------------------------------------------------------------------------


def result(metrics: dict[str, float], champion: dict[str, float] | None = None) -> TrainingResult:
    return TrainingResult(
        model_name="churn",
        run_id="run-2",
        estimator="random_forest_classifier",
        artifacts={},
        metrics=metrics,
        signature=[],
        training_rows=600,
        holdout_rows=200,
        parity_max_abs_diff=0.0,
        champion_version=3 if champion else None,
        champion_metrics=champion,
    )


def regression_spec(**metrics: Any) -> ModelSpec:
    return parse_spec(
        {
            "name": "prices",
            "task": "regression",
            "target": "price",
            "features": [{"name": "rooms", "type": "integer"}],
            "estimator": {"kind": "ridge"},
            "metrics": metrics,
        }
    )


GOOD = {"roc_auc": 0.82, "accuracy": 0.78, "f1": 0.6, "log_loss": 0.45}


def test_first_version_passes_when_it_meets_every_minimum(churn_spec: ModelSpec) -> None:
    decision = apply_gate(churn_spec, result(GOOD))
    assert decision.passed
    assert decision.reason == "first version: roc_auc 0.8200 meets every minimum"
    assert decision.champion_version is None


@pytest.mark.parametrize(("versions", "counted"), [(1, "of 1 version"), (2, "of 2 versions")])
def test_a_candidate_without_a_champion_beside_earlier_versions_is_not_called_the_first(
    churn_spec: ModelSpec, versions: int, counted: str
) -> None:
    # (the champion was archived or rejected, and none fell back in its place)
    decision = apply_gate(churn_spec, result(GOOD), versions=versions)
    assert decision.passed
    assert decision.reason == f"no champion serves ({counted}): roc_auc 0.8200 meets every minimum"


def test_a_missed_minimum_fails_the_gate_naming_it(churn_spec: ModelSpec) -> None:
    decision = apply_gate(churn_spec, result({**GOOD, "accuracy": 0.6}))
    assert not decision.passed
    assert decision.reason == "accuracy 0.6000 misses the minimum 0.65"


def test_candidate_worse_than_the_champion_fails(churn_spec: ModelSpec) -> None:
    decision = apply_gate(churn_spec, result(GOOD, champion={**GOOD, "roc_auc": 0.85}))
    assert not decision.passed
    assert "roc_auc 0.8200 is worse than champion v3's 0.8500 on the same holdout" in decision.reason


def test_candidate_equal_to_the_champion_passes(churn_spec: ModelSpec) -> None:
    decision = apply_gate(churn_spec, result(GOOD, champion=GOOD))
    assert decision.passed
    assert (decision.champion_version, decision.champion_metrics) == (3, GOOD)
    assert decision.reason == "roc_auc 0.8200 vs champion v3's 0.8200 on the same holdout: not worse"


@pytest.mark.parametrize(("own", "held"), [(0.80, False), (0.8001, True)])
def test_a_passing_candidate_is_held_for_a_person_when_the_champion_scores_far_below_its_own_holdout(
    churn_spec: ModelSpec, own: float, held: bool
) -> None:
    # GIVEN a champion with roc_auc `own` on its own holdout and 0.60 on this run's (labels swapped, say), and a
    # candidate trained on this data at 0.82: a drop of 0.2 (roc_auc's default limit) or a hair more
    decision = apply_gate(churn_spec, result(GOOD, champion={**GOOD, "roc_auc": 0.60}), champion_own=own)
    # THEN it passes either way, and past the limit it waits for a person, the reason saying why
    assert decision.passed
    assert bool(decision.held) is held
    if held:
        assert decision.held == (
            "champion v3 scores roc_auc 0.6000 on the same holdout, 0.2001 worse than on its own holdout (0.8001; "
            "metrics.max_champion_drop 0.2): did the labels or a column change meaning? A person decides"
        )
        assert decision.reason.endswith(f"not worse; held for a person: {decision.held}")


def test_a_failing_candidate_is_not_held_and_without_the_champions_own_metric_nothing_is(churn_spec: ModelSpec) -> None:
    worse = apply_gate(churn_spec, result(GOOD, champion={**GOOD, "roc_auc": 0.85}), champion_own=1.0)
    assert (worse.passed, worse.held) == (False, "")
    unknown = apply_gate(churn_spec, result(GOOD, champion={**GOOD, "roc_auc": 0.1}), champion_own=None)
    assert (unknown.passed, unknown.held) == (True, "")


@pytest.mark.parametrize(("own", "limit", "held"), [(14.0, None, False), (15.0, 5.0, False), (14.9, 5.0, True)])
def test_an_error_metric_holds_only_with_a_limit_in_its_own_units(own: float, limit: float | None, held: bool) -> None:
    spec = regression_spec(primary="rmse", **({"max_champion_drop": limit} if limit else {}))
    scored = {"rmse": 12.0, "mae": 9.0, "r2": 0.7}
    decision = apply_gate(spec, result(scored, champion={**scored, "rmse": 20.0}), champion_own=own)
    assert decision.passed and bool(decision.held) is held


def test_on_the_rows_the_champion_did_not_train_on_the_candidates_metrics_there_are_compared(
    churn_spec: ModelSpec,
) -> None:
    """Its minimums are the whole holdout's; the comparison is on the rows both were scored on."""
    champion = {**GOOD, "roc_auc": 0.80}
    # better than the champion on the whole holdout, a hair worse on the rows the champion did not train on
    worse_there = result(GOOD, champion).model_copy(
        update={"compared_rows": 150, "compared_metrics": {**GOOD, "roc_auc": 0.7999}}
    )
    decision = apply_gate(churn_spec, worse_there)
    assert not decision.passed
    assert decision.reason == (
        "roc_auc 0.7999 is worse than champion v3's 0.8000 on the 150 of 200 holdout rows it did not train on"
    )
    equal_there = worse_there.model_copy(
        update={"compared_metrics": {**GOOD, "roc_auc": 0.80}, "metrics": {**GOOD, "roc_auc": 0.79}}
    )
    decision = apply_gate(churn_spec, equal_there)
    assert decision.passed
    assert decision.candidate_metrics["roc_auc"] == 0.79  # the whole holdout's, which the minimums are held to
    assert decision.reason == (
        "roc_auc 0.8000 vs champion v3's 0.8000 on the 150 of 200 holdout rows it did not train on: not worse"
    )


def test_a_comparison_on_rows_the_champion_trained_on_says_it_favours_the_champion(churn_spec: ModelSpec) -> None:
    favoured = result(GOOD, champion=GOOD).model_copy(update={"champion_favoured_rows": 180})
    decision = apply_gate(churn_spec, favoured)
    assert decision.passed
    assert decision.reason == (
        "roc_auc 0.8200 vs champion v3's 0.8200 on the same holdout, though it trained on 180 of its 200 rows "
        "(too few others to compare on: this favours the champion): not worse"
    )


def test_every_reason_a_candidate_fails_is_given(churn_spec: ModelSpec) -> None:
    decision = apply_gate(churn_spec, result({**GOOD, "accuracy": 0.6, "roc_auc": 0.65}, champion=GOOD))
    assert decision.reason == (
        "roc_auc 0.6500 misses the minimum 0.7; accuracy 0.6000 misses the minimum 0.65; "
        "roc_auc 0.6500 is worse than champion v3's 0.8200 on the same holdout"
    )


@pytest.mark.parametrize(("candidate", "passed"), [(7.0, True), (7.0000001, False)])
def test_a_lower_is_better_metric_equal_to_the_champions_passes_and_a_hair_worse_fails(
    candidate: float, passed: bool
) -> None:
    spec = regression_spec(primary="rmse")
    assert apply_gate(spec, result({"rmse": candidate, "mae": 5.0, "r2": 0.8}, champion={"rmse": 7.0})).passed is passed


@pytest.mark.parametrize(("log_loss", "passed"), [(0.5, True), (0.5000001, False)])
def test_a_ceiling_is_met_at_its_value_and_missed_a_hair_above(
    churn_spec: ModelSpec, log_loss: float, passed: bool
) -> None:
    spec = parse_spec(
        {**churn_spec.model_dump(mode="json"), "metrics": {"primary": "roc_auc", "minimum": {"log_loss": 0.5}}}
    )
    assert apply_gate(spec, result({**GOOD, "log_loss": log_loss})).passed is passed


def test_tolerance_lets_a_slightly_worse_candidate_pass(churn_spec: ModelSpec) -> None:
    lenient = parse_spec({**churn_spec.model_dump(mode="json"), "metrics": {"primary": "roc_auc", "tolerance": 0.02}})
    assert apply_gate(lenient, result(GOOD, champion={**GOOD, "roc_auc": 0.835})).passed
    assert not apply_gate(lenient, result(GOOD, champion={**GOOD, "roc_auc": 0.845})).passed


def test_lower_is_better_metrics_compare_the_other_way() -> None:
    spec = regression_spec(primary="rmse", minimum={"rmse": 10.0, "r2": 0.5}, tolerance=0.5)
    assert apply_gate(spec, result({"rmse": 8.0, "mae": 6.0, "r2": 0.8}, champion={"rmse": 7.6})).passed
    worse = apply_gate(spec, result({"rmse": 8.0, "mae": 6.0, "r2": 0.8}, champion={"rmse": 7.0}))
    assert not worse.passed
    assert "rmse 8.0000 is worse than champion" in worse.reason
    missed = apply_gate(spec, result({"rmse": 12.0, "mae": 9.0, "r2": 0.8}))
    assert missed.reason == "rmse 12.0000 is above 10.0, the most metrics.minimum allows (lower is better)"


def test_log_loss_minimum_is_a_ceiling(churn_spec: ModelSpec) -> None:
    spec = parse_spec(
        {**churn_spec.model_dump(mode="json"), "metrics": {"primary": "log_loss", "minimum": {"log_loss": 0.5}}}
    )
    assert apply_gate(spec, result(GOOD)).passed
    assert not apply_gate(spec, result({**GOOD, "log_loss": 0.7})).passed


def test_undefined_metric_never_passes(churn_spec: ModelSpec) -> None:
    assert not apply_gate(churn_spec, result({**GOOD, "roc_auc": float("nan")})).passed


# -- a gate that knows noise ---------------------------------------------------------------------


def with_confidence(spec: ModelSpec, confidence: float | None, tolerance: float = 0.0) -> ModelSpec:
    raw = spec.model_dump(mode="json", exclude_none=True)
    metrics = {**raw["metrics"], "tolerance": tolerance}
    if confidence is not None:
        metrics["confidence"] = confidence
    return parse_spec({**raw, "metrics": metrics})


def compared(low: float, high: float = 0.05) -> TrainingResult:
    interval = Comparison(metric="roc_auc", confidence=0.9, difference=0.01, low=low, high=high, resamples=1000)
    return result(GOOD, champion={**GOOD, "roc_auc": 0.81}).model_copy(update={"comparison": interval})


@pytest.mark.parametrize(
    ("tolerance", "low", "passed"),
    [
        (0.0, 0.0, False),  # the lower end must be above -tolerance, not on it
        (0.0, 1e-9, True),
        (0.02, -0.02, False),
        (0.02, -0.0199, True),
    ],
)
def test_with_a_confidence_the_intervals_lower_end_must_clear_minus_tolerance(
    churn_spec: ModelSpec, tolerance: float, low: float, passed: bool
) -> None:
    decision = apply_gate(with_confidence(churn_spec, 0.9, tolerance), compared(low))
    assert decision.passed is passed
    assert decision.comparison is not None and decision.comparison.low == low
    if not passed:
        assert "the 90% interval of roc_auc (challenger - champion) is [" in decision.reason


def test_without_a_confidence_the_interval_is_reported_not_required(churn_spec: ModelSpec) -> None:
    decision = apply_gate(with_confidence(churn_spec, None), compared(-0.03))
    assert decision.passed
    assert decision.reason == (
        "roc_auc 0.8200 vs champion v3's 0.8100 on the same holdout: not worse "
        "(the 90% interval of the difference is [-0.0300, +0.0500])"
    )


def test_an_error_metrics_interval_is_named_in_the_order_it_is_taken(churn_spec: ModelSpec) -> None:
    """The interval is of the challenger's gain: for rmse, champion minus challenger (a worse one is negative)."""
    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    regressor = parse_spec({**raw, "task": "regression", "estimator": {"kind": "ridge"},
                            "metrics": {"primary": "rmse", "confidence": 0.95}})  # fmt: skip
    interval = Comparison(metric="rmse", confidence=0.95, difference=-3.4, low=-4.5715, high=-2.2346, resamples=1000)
    worse = result({"rmse": 24.6093}, champion={"rmse": 21.1810}).model_copy(update={"comparison": interval})
    decision = apply_gate(regressor, worse)
    assert not decision.passed
    assert (
        "the 95% interval of rmse (champion - challenger: lower is better) is [-4.5715, -2.2346]: its lower end is "
        "not above 0"
    ) in decision.reason
    better = result({"rmse": 19.0}, champion={"rmse": 21.1810}).model_copy(
        update={"comparison": interval.model_copy(update={"low": 1.04, "high": 2.85})}
    )
    assert apply_gate(regressor, better).reason.endswith(
        "(the 95% interval of rmse (champion - challenger: lower is better) is [+1.0400, +2.8500])"
    )


def test_a_champion_that_reads_features_the_spec_dropped_is_not_compared_and_the_reason_says_so(
    churn_spec: ModelSpec,
) -> None:
    unscored = result(GOOD).model_copy(
        update={"champion_version": 3, "champion_not_compared": "it reads ['age'], which this spec does not have"}
    )
    decision = apply_gate(churn_spec, unscored)
    assert decision.passed
    assert decision.reason == (
        "roc_auc 0.8200 meets every minimum; not compared with champion v3: it reads ['age'], which this spec does "
        "not have"
    )


def test_an_undefined_interval_does_not_pass(churn_spec: ModelSpec) -> None:
    assert not apply_gate(with_confidence(churn_spec, 0.9), compared(float("nan"))).passed


def outputs(probabilities: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "label": np.where(probabilities >= 0.5, "yes", "no"),
        "probabilities": np.c_[1 - probabilities, probabilities],
    }


def test_the_paired_bootstrap_of_a_model_against_itself_is_zero(churn_spec: ModelSpec) -> None:
    rng = np.random.default_rng(0)
    truth = np.where(rng.random(300) < 0.3, "yes", "no")
    same = outputs(rng.random(300))
    interval = paired_bootstrap(churn_spec, truth, (same, ["no", "yes"]), (same, ["no", "yes"]), confidence=0.9)
    assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_a_clearly_better_challenger_has_an_interval_above_zero(churn_spec: ModelSpec) -> None:
    rng = np.random.default_rng(1)
    truth = rng.random(400) < 0.3
    good = outputs(np.clip(truth * 0.6 + rng.random(400) * 0.4, 0, 1))
    poor = outputs(rng.random(400))
    labels = np.where(truth, "yes", "no")
    interval = paired_bootstrap(churn_spec, labels, (good, ["no", "yes"]), (poor, ["no", "yes"]), confidence=0.95)
    assert 0 < interval.low < interval.difference < interval.high
    # and the other way round, the interval is mirrored
    mirrored = paired_bootstrap(churn_spec, labels, (poor, ["no", "yes"]), (good, ["no", "yes"]), confidence=0.95)
    assert mirrored.difference == pytest.approx(-interval.difference)
    assert mirrored.high < 0


def test_for_a_lower_is_better_metric_positive_still_means_the_challenger_is_better() -> None:
    spec = regression_spec(primary="rmse")
    rng = np.random.default_rng(2)
    truth = rng.normal(size=300)
    close = {"label": truth + rng.normal(scale=0.1, size=300)}
    far = {"label": truth + rng.normal(scale=1.0, size=300)}
    interval = paired_bootstrap(spec, truth, (close, None), (far, None), confidence=0.9)
    assert interval.difference > 0 and interval.low > 0


# -- imbalanced problems: precision, recall and the curve between them -------------------------


def imbalanced(seed: int, rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Labels with 15 % positives, and scores rounded to two places (ties in plenty)."""
    rng = np.random.default_rng(seed)
    positive = rng.random(rows) < 0.15
    scores = np.round(np.clip(rng.normal(0.35 + 0.25 * positive, 0.2), 0, 1), 2)
    return positive, scores


@pytest.mark.parametrize("seed", SEEDS)
def test_precision_recall_and_average_precision_match_scikit_learn(seed: int) -> None:
    positive, scores = imbalanced(seed)
    classes = ["ok", "fraud"]
    truth = np.where(positive, "fraud", "ok")
    proba = np.column_stack([1 - scores, scores])
    guess = np.where(scores >= 0.5, "fraud", "ok")
    ours = classification_metrics(truth, guess, proba, classes)
    assert ours["precision"] == pytest.approx(sk.precision_score(truth, guess, pos_label="fraud"))
    assert ours["recall"] == pytest.approx(sk.recall_score(truth, guess, pos_label="fraud"))
    assert ours["average_precision"] == pytest.approx(sk.average_precision_score(positive, scores))
    thresholds, precision, recall = precision_recall_curve(positive, scores)
    sk_precision, sk_recall, sk_thresholds = sk.precision_recall_curve(positive, scores)
    # scikit-learn lists the thresholds ascending and appends the (1, 0) end point
    assert thresholds == pytest.approx(sk_thresholds[::-1])
    assert precision == pytest.approx(sk_precision[:-1][::-1])
    assert recall == pytest.approx(sk_recall[:-1][::-1])


@pytest.mark.parametrize("seed", SEEDS)
def test_multiclass_precision_recall_and_average_precision_are_macro_means(seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = ["basic", "premium", "standard"]
    truth = rng.choice(classes, 400)
    proba = random_probabilities(rng, 400, 3)
    guess = np.array(classes)[proba.argmax(axis=1)]
    ours = classification_metrics(truth, guess, proba, classes)
    assert ours["precision"] == pytest.approx(sk.precision_score(truth, guess, average="macro"))
    assert ours["recall"] == pytest.approx(sk.recall_score(truth, guess, average="macro"))
    one_hot = np.column_stack([truth == label for label in classes])
    assert ours["average_precision"] == pytest.approx(sk.average_precision_score(one_hot, proba, average="macro"))


def test_a_class_never_predicted_has_precision_zero_not_nan() -> None:
    truth = np.array(["no", "yes", "yes", "no"])
    ours = classification_metrics(truth, np.array(["no"] * 4), np.tile([0.9, 0.1], (4, 1)), ["no", "yes"])
    assert ours["precision"] == 0.0
    assert ours["recall"] == 0.0


# Eight rows by descending score: + + - + - - + -. At "score >= 0.6" the top four are flagged:
# precision 3/4, recall 3/4; at ">= 0.8" precision 1, recall 2/4; at ">= 0.2" recall 1, precision 4/7.
CURVE_POSITIVE = np.array([True, True, False, True, False, False, True, False])
CURVE_SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.2, 0.1])


def test_recall_at_precision_counts_a_threshold_whose_precision_equals_the_bound() -> None:
    assert recall_at_precision(CURVE_POSITIVE, CURVE_SCORES, 0.75) == 0.75
    # a hair stricter, only the thresholds of precision 1 qualify
    assert recall_at_precision(CURVE_POSITIVE, CURVE_SCORES, np.nextafter(0.75, 1)) == 0.5


def test_recall_at_an_unreachable_precision_is_zero() -> None:
    positive = np.array([False, True, True])
    assert recall_at_precision(positive, np.array([0.9, 0.5, 0.4]), 0.9) == 0.0


def test_precision_at_recall_counts_a_threshold_whose_recall_equals_the_bound() -> None:
    assert precision_at_recall(CURVE_POSITIVE, CURVE_SCORES, 0.75) == 0.75
    assert precision_at_recall(CURVE_POSITIVE, CURVE_SCORES, np.nextafter(0.75, 1)) == pytest.approx(4 / 7)


def test_parametric_metrics_are_reported_under_the_name_the_spec_gives(churn_spec: ModelSpec) -> None:
    raw = churn_spec.model_dump(mode="json")
    raw["metrics"] = {"primary": "recall_at_precision@0.75", "minimum": {"precision_at_recall@0.75": 0.5}}
    spec = parse_spec(raw)
    proba = np.column_stack([1 - CURVE_SCORES, CURVE_SCORES])
    truth = np.where(CURVE_POSITIVE, "yes", "no")
    found = score(
        spec, truth, {"label": np.where(CURVE_SCORES >= 0.5, "yes", "no"), "probabilities": proba}, ["no", "yes"]
    )
    assert found["recall_at_precision@0.75"] == 0.75
    assert found["precision_at_recall@0.75"] == 0.75


def test_the_f1_threshold_is_the_best_f1_over_every_distinct_score() -> None:
    positive, scores = imbalanced(7)
    picked = pick_threshold(positive, scores, Threshold(optimize="f1"))
    f1 = {t: sk.f1_score(positive, scores >= t) for t in np.unique(scores)}
    best = max(f1.values())
    assert picked is not None
    assert f1[picked] == pytest.approx(best)
    assert picked == max(t for t, value in f1.items() if value == pytest.approx(best))  # ties: the highest


def test_the_recall_at_precision_threshold_keeps_the_precision_at_its_bound_and_no_lower() -> None:
    at_bound = pick_threshold(CURVE_POSITIVE, CURVE_SCORES, Threshold(optimize="recall_at_precision", precision=0.75))
    assert at_bound == 0.6  # precision exactly 0.75, recall 0.75
    stricter = Threshold(optimize="recall_at_precision", precision=float(np.nextafter(0.75, 1)))
    assert pick_threshold(CURVE_POSITIVE, CURVE_SCORES, stricter) == 0.8  # precision 1, recall 0.5


def test_no_threshold_when_no_threshold_reaches_the_precision() -> None:
    positive = np.array([False, True, True])
    wanted = Threshold(optimize="recall_at_precision", precision=0.9)
    assert pick_threshold(positive, np.array([0.9, 0.5, 0.4]), wanted) is None
    assert pick_threshold(np.array([False, False]), np.array([0.9, 0.5]), Threshold(optimize="f1")) is None


def test_training_refuses_a_precision_no_threshold_reaches_naming_the_class(churn_spec: ModelSpec) -> None:
    from mlcore.errors import TrainingError
    from mlcore.training.job import decision_threshold

    raw = churn_spec.model_dump(mode="json")
    raw["metrics"]["threshold"] = {"optimize": "recall_at_precision", "precision": 0.9}
    spec = parse_spec(raw)
    truth = np.array(["no", "yes", "yes", "no"])
    proba = np.column_stack([1 - np.array([0.9, 0.5, 0.4, 0.1]), [0.9, 0.5, 0.4, 0.1]])
    with pytest.raises(TrainingError, match=r"no decision threshold reaches precision 0\.9 for class 'yes'"):
        decision_threshold(spec, ["no", "yes"], truth, proba)
    # with the top row a positive, precision 1 is reached there
    assert decision_threshold(spec, ["no", "yes"], truth, proba[[1, 0, 2, 3]]) == 0.9


def test_permutation_importance_finds_the_feature_the_model_uses(churn_spec: ModelSpec) -> None:
    # a "model" that answers from tenure_months alone: shuffling it hurts, shuffling the others cannot
    rng = np.random.default_rng(0)
    columns = {name: rng.normal(size=(400, 1)).astype(np.float32) for name in churn_spec.feature_names}
    truth = np.where(columns["tenure_months"].ravel() > 0, "yes", "no")

    def predict(given: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        p = 1 / (1 + np.exp(-4 * given["tenure_months"].ravel()))
        return {"label": np.where(p >= 0.5, "yes", "no"), "probabilities": np.column_stack([1 - p, p])}

    importance = permutation_importance(churn_spec, predict, columns, truth, ["no", "yes"])
    assert importance["tenure_months"] > 0.3  # roc_auc falls from 1 to about 0.5
    assert all(importance[name] == 0 for name in churn_spec.feature_names if name != "tenure_months")
    assert permutation_importance(churn_spec, predict, columns, truth, ["no", "yes"]) == importance  # seeded


def test_permutation_importance_is_a_loss_for_lower_is_better_metrics_too() -> None:
    spec = parse_spec(
        {
            "name": "prices",
            "task": "regression",
            "target": "y",
            "features": [{"name": "x", "type": "numeric"}, {"name": "noise", "type": "numeric"}],
            "estimator": {"kind": "ridge"},
            "metrics": {"primary": "rmse"},
        }
    )
    rng = np.random.default_rng(1)
    columns = {"x": rng.normal(size=(300, 1)), "noise": rng.normal(size=(300, 1))}
    truth = 3 * columns["x"].ravel()
    importance = permutation_importance(spec, lambda c: {"label": 3 * c["x"].ravel()}, columns, truth, None)
    assert importance["x"] > 1  # rmse grows from 0 when x is shuffled: a positive loss
    assert importance["noise"] == 0


# -- segments ------------------------------------------------------------------------------------


def segmented(spec: ModelSpec, **metrics: Any) -> ModelSpec:
    raw = spec.model_dump(mode="json")
    return parse_spec({**raw, "metrics": {**raw["metrics"], "segments": ["region", "plan"], **metrics}})


def test_each_segment_is_scored_on_its_own_rows_and_an_undefined_metric_is_left_out(churn_spec: ModelSpec) -> None:
    spec = segmented(churn_spec)
    truth = np.array(["yes", "no", "yes", "no", "yes", "yes"])
    p = np.array([0.9, 0.2, 0.4, 0.6, 0.8, 0.7])
    outputs = {"label": np.where(p >= 0.5, "yes", "no"), "probabilities": np.column_stack([1 - p, p])}
    regions = ["north", "north", "south", "south", None, None]
    found = segment_metrics(spec, {"region": regions}, truth, outputs, ["no", "yes"])
    by_value = {s.value: s for s in found}
    assert [(s.column, s.value, s.rows) for s in found] == [
        ("region", "(null)", 2), ("region", "north", 2), ("region", "south", 2)
    ]  # fmt: skip
    assert by_value["north"].metrics["roc_auc"] == 1.0 and by_value["south"].metrics["roc_auc"] == 0.0
    assert by_value["north"].metrics == pytest.approx(
        score(spec, truth[:2], {k: v[:2] for k, v in outputs.items()}, ["no", "yes"])
    )
    # both rows without a region are churners: no ROC AUC there, accuracy still
    assert "roc_auc" not in by_value["(null)"].metrics and by_value["(null)"].metrics["accuracy"] == 1.0


def test_an_integer_segment_read_from_a_csv_as_floats_is_named_as_an_integer(churn_spec: ModelSpec) -> None:
    spec = segmented(churn_spec)
    p = np.full(3, 0.7)
    outputs = {"label": np.full(3, "yes"), "probabilities": np.column_stack([1 - p, p])}
    found = segment_metrics(spec, {"support_calls": [1.0, 2.0, None]}, np.full(3, "yes"), outputs, ["no", "yes"])
    assert [s.value for s in found] == ["(null)", "1", "2"]


def test_a_segment_column_with_more_than_fifty_values_is_refused_naming_it(churn_spec: ModelSpec) -> None:
    spec = segmented(churn_spec)
    p = np.full(51, 0.7)
    outputs = {"label": np.full(51, "yes"), "probabilities": np.column_stack([1 - p, p])}
    assert len(segment_metrics(spec, {"region": [*range(50), 0]}, np.full(51, "yes"), outputs, ["no", "yes"])) == 50
    with pytest.raises(TrainingError, match=r"metrics.segments: 'region' has 51 values on the holdout"):
        segment_metrics(spec, {"region": list(range(51))}, np.full(51, "yes"), outputs, ["no", "yes"])


def segment(column: str, value: str, auc: float, rows: int = 100) -> SegmentMetrics:
    return SegmentMetrics(column=column, value=value, rows=rows, metrics={"roc_auc": auc})


def with_segments(segments: list[SegmentMetrics]) -> TrainingResult:
    return result(GOOD).model_copy(update={"segments": segments})


@pytest.mark.parametrize(("south", "passed"), [(0.625, True), (0.6249, False)])
def test_the_segment_gap_passes_at_the_limit_and_fails_a_hair_beyond(
    churn_spec: ModelSpec, south: float, passed: bool
) -> None:
    # exact binary fractions: 0.875 - 0.625 is 0.25 exactly
    spec = segmented(churn_spec, max_segment_gap=0.25)
    decision = apply_gate(spec, with_segments([segment("region", "north", 0.875), segment("region", "south", south)]))
    assert decision.passed is passed
    if passed:
        assert decision.reason.endswith(
            "roc_auc differs by 0.2500 across the segments of region (south 0.6250, north 0.8750), within 0.25"
        )
    else:
        assert decision.reason == (
            "roc_auc differs by 0.2501 across the segments of region (south 0.6249, north 0.8750), "
            "more than metrics.max_segment_gap 0.25"
        )


@pytest.mark.parametrize(("worst", "passed"), [(0.7, True), (0.6999, False)])
def test_a_gap_equal_to_the_limit_in_decimals_passes(churn_spec: ModelSpec, worst: float, passed: bool) -> None:
    spec = segmented(churn_spec, max_segment_gap=0.1)  # 0.8 - 0.7 is 0.10000000000000009 in binary floats
    segments = [segment("region", "north", 0.8), segment("region", "south", worst)]
    assert apply_gate(spec, with_segments(segments)).passed is passed


@pytest.mark.parametrize(("rows", "passed"), [(29, True), (30, False)])
def test_a_segment_below_min_segment_rows_is_not_gated_and_one_at_it_is(
    churn_spec: ModelSpec, rows: int, passed: bool
) -> None:
    spec = segmented(churn_spec, max_segment_gap=0.1)  # min_segment_rows: 30 by default
    segments = [segment("plan", "basic", 0.9), segment("plan", "premium", 0.5, rows=rows)]
    assert apply_gate(spec, with_segments(segments)).passed is passed


def test_each_column_is_gated_on_its_own_segments(churn_spec: ModelSpec) -> None:
    spec = segmented(churn_spec, max_segment_gap=0.1)
    segments = [
        segment("region", "north", 0.9), segment("region", "south", 0.85),  # 0.05 within region
        segment("plan", "basic", 0.82), segment("plan", "premium", 0.7),  # 0.12 within plan
    ]  # fmt: skip
    decision = apply_gate(spec, with_segments(segments))
    assert not decision.passed
    assert "across the segments of plan (premium 0.7000, basic 0.8200)" in decision.reason
    assert "segments of region" not in decision.reason


def test_without_max_segment_gap_segments_are_reported_not_gated(churn_spec: ModelSpec) -> None:
    decision = apply_gate(
        segmented(churn_spec), with_segments([segment("region", "a", 0.9), segment("region", "b", 0.1)])
    )
    assert decision.passed and "segments" not in decision.reason


def test_a_holdout_label_the_model_never_learned_fails_the_training(churn_spec: ModelSpec) -> None:
    import pyarrow as pa

    from mlcore.training.job import check_holdout_labels

    # GIVEN a model that learned no/yes, and a holdout whose labels are among them (a missing label is no label)
    holdout = pa.table({"churned": ["no", "yes", None, "yes"]})
    check_holdout_labels(churn_spec, holdout, ["no", "yes"])
    # WHEN the holdout has rows labelled otherwise (a typo too rare to reach the training rows)
    stray = pa.table({"churned": ["no", "maybe", "yes", "maybe", "Yes"]})
    # THEN the training fails naming each label and its rows, and what the model learned
    with pytest.raises(TrainingError) as caught:
        check_holdout_labels(churn_spec, stray, ["no", "yes"])
    assert str(caught.value).startswith(
        "target 'churned': the holdout has labels no training row has: 'Yes' (1 row), 'maybe' (2 rows); "
        "the model learned ['no', 'yes']"
    )
    check_holdout_labels(churn_spec, stray, None)  # a regressor has no labels to check
    # AND labels that are not text compare as the model's classes are written (str of each label)
    check_holdout_labels(churn_spec, pa.table({"churned": [True, False, None]}), ["False", "True"])
    check_holdout_labels(churn_spec, pa.table({"churned": [1.0, 0.0]}), ["0.0", "1.0"])


@pytest.mark.parametrize(
    ("alone", "kept", "favoured"),
    [
        (100 - MIN_COMPARED_ROWS, MIN_COMPARED_ROWS, 0),  # MIN_COMPARED_ROWS left: compared on them
        (
            101 - MIN_COMPARED_ROWS,
            None,
            101 - MIN_COMPARED_ROWS,
        ),  # one fewer: the whole holdout, the champion's rows counted
        (0, None, 0),  # nothing set aside
    ],
)
def test_the_champions_own_rows_are_set_aside_while_enough_remain(
    churn_spec: ModelSpec, alone: int, kept: int | None, favoured: int
) -> None:
    truth = np.array(["no", "yes"] * 50)
    mask = np.zeros(100, dtype=bool)
    mask[:alone] = True
    rows, counted = comparison_rows(churn_spec, truth, mask)
    assert (None if rows is None else int(rows.sum()), counted) == (kept, favoured)
    assert comparison_rows(churn_spec, truth, None) == (None, 0)  # a champion whose rows were not kept


def test_rows_are_not_set_aside_when_a_class_would_be_missing_from_the_rest(churn_spec: ModelSpec) -> None:
    truth = np.array(["yes"] * 10 + ["no"] * 90)
    alone = np.zeros(100, dtype=bool)
    alone[:10] = True  # every "yes" row
    assert comparison_rows(churn_spec, truth, alone) == (None, 10)
    alone[0] = False  # one "yes" row left among the 91
    rows, counted = comparison_rows(churn_spec, truth, alone)
    assert rows is not None and (int(rows.sum()), counted) == (91, 0)
