"""Every drift decision just inside and just outside its threshold: a flipped or scaled comparison fails here.

The thresholds are set from the scores a window actually has, so the boundary is exact: the score
equal to its threshold is drift (`>=`), one a hair below it is not; a test's p-value at `P_VALUE` is
not (`<`), a hair above it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from infra.local.example_data import churn_features, churn_labels
from mlcore.data import Profile, build_profile
from mlcore.monitoring import DriftReport, check_drift
from mlcore.monitoring import drift as drift_module
from mlcore.spec import ModelSpec, load_spec, parse_spec

LARGE, SMALL = 3000, 600


@pytest.fixture(scope="module")
def profile() -> Profile:
    from infra.local.example_data import EXAMPLE_SPEC

    spec = load_spec(EXAMPLE_SPEC.read_text())
    features = churn_features(4000, seed=11)
    return build_profile(spec, features, churn_labels(features, seed=11))


def report(spec: ModelSpec, profile: Profile, rows: int, *, drifted: bool = True) -> DriftReport:
    features = churn_features(rows, seed=24, drifted=drifted)
    return check_drift(spec, 1, profile, features, churn_labels(features, seed=24))


def with_drift(spec: ModelSpec, features: dict[str, float] | None = None, **drift: Any) -> ModelSpec:
    raw = spec.model_dump(mode="json", exclude_none=True)
    raw["drift"] = {**raw["drift"], **drift}
    for feature in raw["features"]:
        if features and feature["name"] in features:
            feature["drift_threshold"] = features[feature["name"]]
    return parse_spec(raw)


def score_of(spec: ModelSpec, profile: Profile, feature: str, rows: int = LARGE) -> float:
    return next(f.score for f in report(spec, profile, rows).features if f.feature == feature)


@pytest.mark.parametrize("feature", ["monthly_charges", "plan"])  # a distance per kind: Wasserstein, Jensen-Shannon
@pytest.mark.parametrize(("scale", "drifted"), [(1.0, True), (1.000001, False), (0.999999, True)])
def test_the_model_threshold_at_the_score_is_drift_and_a_hair_above_it_is_not(
    churn_spec: ModelSpec, profile: Profile, feature: str, scale: float, drifted: bool
) -> None:
    score = score_of(churn_spec, profile, feature)
    spec = with_drift(churn_spec, threshold=score * scale)
    found = next(f for f in report(spec, profile, LARGE).features if f.feature == feature)
    assert (found.threshold, found.drifted) == (score * scale, drifted)


@pytest.mark.parametrize(("scale", "drifted"), [(1.0, True), (1.000001, False)])
def test_a_features_own_threshold_wins_over_the_models(
    churn_spec: ModelSpec, profile: Profile, scale: float, drifted: bool
) -> None:
    score = score_of(churn_spec, profile, "tenure_months")
    # the model's threshold alone would say the opposite
    spec = with_drift(churn_spec, {"tenure_months": score * scale}, threshold=score * (1.5 if drifted else 0.5))
    found = next(f for f in report(spec, profile, LARGE).features if f.feature == "tenure_months")
    assert (found.threshold, found.drifted) == (score * scale, drifted)


@pytest.mark.parametrize("feature", ["support_calls", "monthly_charges", "plan"])  # chi-square, KS, chi-square
@pytest.mark.parametrize(("scale", "drifted"), [(1.0, False), (1.000001, True)])
def test_a_p_value_at_the_tests_level_is_not_drift_and_one_a_hair_below_it_is(  # noqa: PLR0917 (fixtures)
    churn_spec: ModelSpec, profile: Profile, monkeypatch: pytest.MonkeyPatch, feature: str, scale: float, drifted: bool
) -> None:
    p_value = score_of(churn_spec, profile, feature, rows=SMALL)
    assert 0 < p_value < 1
    monkeypatch.setattr(drift_module, "P_VALUE", p_value * scale)
    found = next(f for f in report(churn_spec, profile, SMALL).features if f.feature == feature)
    assert found.drifted is drifted


@pytest.mark.parametrize(("nudge", "dataset_drift"), [(0.0, True), (1e-9, False)])
def test_dataset_drift_at_exactly_the_share_is_drift(
    churn_spec: ModelSpec, profile: Profile, nudge: float, dataset_drift: bool
) -> None:
    share = report(churn_spec, profile, LARGE).drift_share  # 3 of 7 features
    assert 0 < share < 1
    spec = with_drift(churn_spec, dataset_share=share + nudge)
    found = report(spec, profile, LARGE)
    assert (found.drift_share, found.dataset_drift) == (share, dataset_drift)


def test_the_drifted_window_is_far_from_every_threshold_it_is_tested_at(
    churn_spec: ModelSpec, profile: Profile
) -> None:
    """The scores above are of real drift: well above the example's threshold, so a scaled threshold shows."""
    scores = {f.feature: f.score for f in report(churn_spec, profile, LARGE).features}
    assert scores["monthly_charges"] > 2 * churn_spec.drift.threshold
    assert np.isfinite(list(scores.values())).all()
