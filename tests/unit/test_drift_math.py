"""The drift module's statistics against scipy, and every field of a feature's finding, exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import special, stats
from scipy.spatial import distance

from mlcore.data import numeric_profile
from mlcore.monitoring import SMALL_SAMPLE, check_drift, chi_square_p_value, jensen_shannon, ks_p_value, psi
from mlcore.monitoring import drift as drift_module
from mlcore.spec import ModelSpec, parse_spec


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5, 5.0, 12.0, 60.0])
@pytest.mark.parametrize("x", [1e-3, 0.4, 1.0, 2.0, 3.4, 6.0, 14.0, 40.0, 90.0])
def test_the_upper_incomplete_gamma_matches_scipy_on_both_of_its_branches(a: float, x: float) -> None:
    # x < a + 1 takes the series, x >= a + 1 the continued fraction
    assert drift_module._gamma_q(a, x) == pytest.approx(special.gammaincc(a, x), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("x", [0.0, -1.0])
def test_the_upper_incomplete_gamma_is_one_at_and_below_zero(x: float) -> None:
    assert drift_module._gamma_q(2.0, x) == 1.0


@pytest.mark.parametrize(
    ("reference", "reference_count", "current"),
    [
        ([0.5, 0.3, 0.2], 1000, [40, 35, 25]),  # close: the series
        ([0.5, 0.3, 0.2], 1000, [10, 20, 70]),  # far: the continued fraction
        ([0.6, 0.4, 0.0], 500, [50, 45, 5]),  # a category only the current sample has
        ([0.6, 0.4, 0.0], 50, [5, 5, 0]),  # a category neither has: no degree of freedom
        ([0.5, 0.5], 7, [3, 4]),  # a reference smaller than the current sample
    ],
)
def test_chi_square_is_scipys_two_sample_test_of_the_reference_against_the_current_counts(
    reference: list[float], reference_count: int, current: list[int]
) -> None:
    table = np.array([np.asarray(reference) * reference_count, current])
    table = table[:, table.sum(axis=0) > 0]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    got = chi_square_p_value(np.asarray(reference), reference_count, np.asarray(current, dtype=float))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("reference", "reference_count", "current"),
    [
        ([1.0, 0.0], 100, [30, 0]),  # one category in both samples
        ([0.5, 0.5], 100, [0, 0]),  # no current values
        ([0.5, 0.5], 0, [10, 10]),  # no reference values
    ],
)
def test_chi_square_with_nothing_to_compare_finds_nothing(
    reference: list[float], reference_count: int, current: list[int]
) -> None:
    assert chi_square_p_value(np.asarray(reference), reference_count, np.asarray(current, dtype=float)) == 1.0


def test_values_the_reference_never_saw_weigh_by_how_many_there_are() -> None:
    # Fisher's exact test of 0 of 1000 reference values against k of 205 current ones: 0.17 for one, 0.029 for two
    reference = np.array([0.25, 0.25, 0.25, 0.25, 0.0])
    one = chi_square_p_value(reference, 1000, np.array([51.0, 51, 51, 51, 1]))
    two = chi_square_p_value(reference, 1000, np.array([51.0, 51, 51, 50, 2]))
    assert one > 0.05 > two


UNIFORM = numeric_profile(np.linspace(0.0, 1.0, 4001))


def kolmogorov(statistic: float, n: int, m: int) -> float:
    """The asymptotic p-value of a two-sample KS statistic (Stephens' correction), by scipy."""
    effective = n * m / (n + m)
    return float(stats.kstwobign.sf((np.sqrt(effective) + 0.12 + 0.11 / np.sqrt(effective)) * statistic))


@pytest.mark.parametrize(
    ("current", "statistic"),
    [
        (np.full(30, -5.0), 1.0),  # every value below the reference's smallest: its CDF there is 0
        (np.full(30, 5.0), 1.0),  # every value above its largest: its CDF there is 1
        (np.linspace(0.0, 0.5, 40), 0.5),  # half the range: the ECDF reaches 1 where the reference is at 0.5
    ],
)
def test_the_ks_p_value_is_kolmogorovs_of_the_exact_statistic(current: np.ndarray, statistic: float) -> None:
    expected = kolmogorov(statistic, UNIFORM.count, current.size)
    assert ks_p_value(UNIFORM, current) == pytest.approx(expected, rel=1e-6, abs=1e-300)


def test_a_sample_of_the_reference_has_a_high_ks_p_value() -> None:
    current = np.random.default_rng(0).uniform(0, 1, 200)
    statistic = stats.ks_1samp(current, stats.uniform.cdf).statistic
    assert ks_p_value(UNIFORM, current) == pytest.approx(kolmogorov(statistic, UNIFORM.count, 200), rel=0.05)


def test_psi_and_jensen_shannon_match_their_definitions() -> None:
    expected, actual = np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.3, 0.4])
    assert psi(expected, actual) == pytest.approx(float(np.sum((actual - expected) * np.log(actual / expected))))
    assert jensen_shannon(expected, actual) == pytest.approx(distance.jensenshannon(expected, actual))
    # proportions or counts: the same distance
    assert jensen_shannon(expected * 10, actual * 7) == pytest.approx(distance.jensenshannon(expected, actual))


# -- a feature's finding, field by field ----------------------------------------------------------


def spec_of(**changes: Any) -> ModelSpec:
    raw = {
        "name": "prices",
        "task": "regression",
        "target": "price",
        "features": [
            {"name": "rooms", "type": "integer", "min": 1, "max": 10},
            {"name": "area", "type": "numeric", "min": 0, "max": 500},
            {"name": "city", "type": "categorical", "categories": ["a", "b", "c"], "allow_unseen": True},
        ],
        "estimator": {"kind": "ridge"},
        "metrics": {"primary": "rmse"},
        **changes,
    }
    return parse_spec(raw)


@pytest.fixture(scope="module")
def reference() -> Any:
    from mlcore.data import build_profile

    columns, predictions = window(5000, 1)
    return build_profile(spec_of(), columns, predictions)


def window(rows: int, seed: int, *, shift: float = 0.0) -> tuple[dict[str, Any], np.ndarray]:
    rng = np.random.default_rng(seed)
    area = rng.normal(120 + shift, 30, rows)
    columns = {
        "rooms": rng.integers(1, 8, rows).astype(float),
        "area": area,
        "city": rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2]).astype(object),
    }
    return columns, area * 1000


def test_a_regressors_predictions_are_checked_like_a_numeric_feature(reference: Any) -> None:
    columns, predictions = window(3000, 2, shift=40)
    report = check_drift(spec_of(), 4, reference, columns, predictions)
    prediction = report.prediction
    assert prediction is not None
    assert (prediction.feature, prediction.kind, prediction.method) == ("prediction", "numeric", "normed_wasserstein")
    assert prediction.drifted and prediction.threshold == spec_of().drift.threshold
    same = check_drift(spec_of(), 4, reference, *window(3000, 3)).prediction
    assert same is not None and not same.drifted


def test_values_outside_the_contracts_range_are_counted_at_its_exact_bounds(reference: Any) -> None:
    columns, predictions = window(900, 4)
    columns["area"][:6] = [-0.5, 0.0, 500.0, 500.5, 501.0, np.nan]  # 0 and 500 are inside
    found = next(f for f in check_drift(spec_of(), 1, reference, columns, predictions).features if f.feature == "area")
    assert found.findings == ["1 values below min 0.0", "2 values above max 500.0"]
    assert found.missing_rate == pytest.approx(1 / 900)
    assert (found.kind, found.reference_missing_rate) == ("numeric", 0.0)
    assert found.labels == [f"≤{e:.3g}" for e in reference.features["area"].psi_edges] + [
        f">{reference.features['area'].psi_edges[-1]:.3g}"
    ]
    assert found.reference_histogram == reference.features["area"].psi_proportions
    assert sum(found.current_histogram) == pytest.approx(1.0)


def test_a_window_inside_the_range_has_no_range_findings(reference: Any) -> None:
    found = check_drift(spec_of(), 1, reference, *window(900, 5)).features
    assert all(f.findings == [] for f in found)


def test_a_categorical_finding_lists_five_unseen_categories_and_its_missing_share(reference: Any) -> None:
    columns, predictions = window(400, 6)
    columns["city"][:8] = ["z", "y", "x", "w", "v", "u", None, None]
    found = next(f for f in check_drift(spec_of(), 1, reference, columns, predictions).features if f.feature == "city")
    assert found.findings == ["unseen categories: ['u', 'v', 'w', 'x', 'y']"]
    assert (found.kind, found.missing_rate) == ("categorical", 2 / 400)
    assert found.labels == ["a", "b", "c", "__other__"]
    assert found.reference_histogram == pytest.approx([0.5, 0.3, 0.2, 0.0], abs=0.02)
    assert found.current_histogram[-1] == pytest.approx(6 / 398)


@pytest.mark.parametrize(("rows", "method"), [(SMALL_SAMPLE, "chi_square"), (SMALL_SAMPLE + 1, "jensen_shannon")])
def test_a_categorical_feature_is_tested_up_to_the_small_sample_size(reference: Any, rows: int, method: str) -> None:
    found = next(f for f in check_drift(spec_of(), 1, reference, *window(rows, 7)).features if f.feature == "city")
    assert found.method == method


@pytest.mark.parametrize(("rows", "method"), [(SMALL_SAMPLE, "chi_square"), (SMALL_SAMPLE + 1, "normed_wasserstein")])
def test_a_few_valued_numeric_feature_is_tested_like_categories_up_to_the_small_sample_size(
    reference: Any, rows: int, method: str
) -> None:
    found = next(f for f in check_drift(spec_of(), 1, reference, *window(rows, 8)).features if f.feature == "rooms")
    assert found.method == method


def test_an_all_missing_numeric_window_has_a_p_value_of_zero_and_says_it_is_missing(reference: Any) -> None:
    columns, predictions = window(50, 9)
    columns["area"] = np.full(50, np.nan)
    found = next(f for f in check_drift(spec_of(), 1, reference, columns, predictions).features if f.feature == "area")
    assert (found.method, found.score, found.drifted) == ("ks", 0.0, True)
    assert found.findings == [f"missing in 100% of rows (reference 0%; chi-square p {found_p(found):.2g})"]
    assert found.missing_rate == 1.0


def found_p(found: Any) -> float:
    """The p-value a missing-share finding gives, as it was computed (read back from its words)."""
    return float(found.findings[-1].rsplit("chi-square p ", 1)[1].rstrip(")"))


@pytest.mark.parametrize(("feature", "missing", "drifted"), [("area", 89, False), ("area", 91, True),
                                                             ("city", 89, False), ("city", 91, True)])  # fmt: skip
def test_a_feature_whose_share_of_missing_values_moved_a_tenth_has_drifted_whatever_its_values_do(
    reference: Any, feature: str, missing: int, drifted: bool
) -> None:
    # GIVEN 900 rows of the reference's distribution (never missing there), 89 or 91 of them now missing (a feed
    # that broke for a while): the values left look as they did
    columns, predictions = window(900, 10)
    columns[feature][:missing] = np.nan if feature == "area" else None
    found = next(f for f in check_drift(spec_of(), 1, reference, columns, predictions).features if f.feature == feature)
    # THEN past a tenth of the rows (9.9 % and 10.1 %) the feature drifted, saying why
    assert found.drifted is drifted
    said = [f for f in found.findings if f.startswith("missing in")]
    assert said == ([f"missing in 10% of rows (reference 0%; chi-square p {found_p(found):.2g})"] if drifted else [])


@pytest.mark.parametrize("value", [0.5, 0.25])
def test_the_ks_p_value_sums_kolmogorovs_alternating_series_where_its_terms_matter(value: float) -> None:
    # one value: the statistic is exactly max(value, 1 - value); λ ≈ 0.6 to 0.9, where the series' second
    # and third terms change the p-value in its second decimal
    current = np.array([value])
    statistic = max(value, 1 - value)
    assert ks_p_value(UNIFORM, current) == pytest.approx(kolmogorov(statistic, UNIFORM.count, 1), rel=1e-9)


def test_a_classifiers_predictions_are_checked_like_a_categorical_feature(churn_spec: ModelSpec) -> None:
    from infra.local.example_data import churn_features, churn_labels
    from mlcore.data import build_profile

    features = churn_features(3000, seed=11)
    profile = build_profile(churn_spec, features, churn_labels(features, seed=11))
    window_features = churn_features(600, seed=12)
    always_yes = np.array(["yes"] * 600, dtype=object)
    report = check_drift(churn_spec, 1, profile, window_features, always_yes)
    prediction = report.prediction
    assert prediction is not None
    assert (prediction.feature, prediction.kind, prediction.drifted) == ("prediction", "categorical", True)
    same = check_drift(churn_spec, 1, profile, window_features, churn_labels(window_features, seed=12)).prediction
    assert same is not None and not same.drifted


def test_only_the_view_features_the_version_reads_count_toward_its_drift(reference: Any) -> None:
    columns, predictions = window(900, 5)
    checked = check_drift(spec_of(), 1, reference, columns, predictions)
    assert not any(f.drifted for f in checked.features)
    area = next(f for f in checked.features if f.feature == "area")
    # GIVEN the views' last checks: area (an input of the version) drifted, and visits_7d, a view feature the spec
    # took since the version was trained, drifted too
    from_views = [
        area.model_copy(update={"drifted": True}),
        area.model_copy(update={"feature": "visits_7d", "drifted": True}),
    ]
    report = check_drift(spec_of(), 1, reference, columns, predictions, from_views=from_views)
    # THEN area counts once, as its view found it, and visits_7d not at all
    assert sorted((f.feature, f.drifted) for f in report.features) == [
        ("area", True),
        ("city", False),
        ("rooms", False),
    ]
    assert report.drift_share == pytest.approx(1 / 3)


def _zero_inflated(rng: np.random.Generator, n: int) -> np.ndarray:
    """Rainfall-like: 70 % zeros, the rest spread."""
    return np.where(rng.random(n) < 0.7, 0.0, rng.gamma(2.0, 3.0, n))


def _whole_years(rng: np.random.Generator, n: int) -> np.ndarray:
    """An integer feature of 30 values (more than a profile keeps as frequencies: tested by KS)."""
    return rng.integers(0, 30, n).astype(float)


@pytest.mark.parametrize("draw", [_zero_inflated, _whole_years])
def test_ks_on_a_feature_with_point_masses_finds_drift_in_few_windows_of_the_same_distribution(draw: Any) -> None:
    # GIVEN a profile of 16,000 training values with ties (its quantiles repeat: 70 of 100 are 0.0, say)
    rng = np.random.default_rng(1)
    profile = numeric_profile(draw(rng, 16000))
    assert len(set(profile.quantiles)) < len(profile.quantiles)
    # WHEN 200 windows of 600 values of the same distribution are tested (the reference CDF was interpolated through
    # the ties: every rainfall window and 43 % of the years' were "drift")
    rate = np.mean([ks_p_value(profile, draw(rng, 600)) < 0.05 for _ in range(200)])
    # THEN about as few as the test's 5 % level lets through (scipy's two-sample KS: 0 % and 2 % here)
    assert rate <= 0.08
    # AND a real shift still is drift
    assert ks_p_value(profile, draw(rng, 600) + 5.0) < 0.01


def test_ks_at_a_point_mass_compares_its_whole_share() -> None:
    # 70 % zeros in the reference; a window of 70 % zeros and a window of 90 % zeros
    profile = numeric_profile(np.concatenate([np.zeros(7000), np.linspace(0.1, 10.0, 3000)]))
    same = np.concatenate([np.zeros(420), np.linspace(0.1, 10.0, 180)])
    more = np.concatenate([np.zeros(540), np.linspace(0.1, 10.0, 60)])
    assert ks_p_value(profile, same) > 0.5
    # the gap is at zero: 0.9 of the window against 0.7 of the reference
    assert ks_p_value(profile, more) == pytest.approx(kolmogorov(0.2, profile.count, 600), rel=0.05)


def test_the_verdict_says_when_the_predictions_drifted_and_not_when_they_did_not(reference: Any) -> None:
    from mlcore.monitoring import render_drift_html
    from mlcore.monitoring.check import _summary

    drifted = check_drift(spec_of(), 4, reference, *window(3000, 2, shift=40))
    steady = check_drift(spec_of(), 4, reference, *window(3000, 3))
    assert drifted.prediction is not None and drifted.prediction.drifted
    said = f"; the predictions drifted (normed_wasserstein {drifted.prediction.score:.3g})"
    assert said in _summary(drifted) and "predictions" not in _summary(steady)
    assert "and the predictions drifted" in render_drift_html(drifted)
    assert "and the predictions drifted" not in render_drift_html(steady)


@pytest.mark.parametrize(
    ("label", "shown"),
    [("≤2.59e+04", "≤25.9k"), (">9.19e+04", ">91.9k"), ("≤1.23e+06", "≤1.23M"), ("≤5e+03", "≤5000"),
     ("≤3.5", "≤3.5"), ("__other__", "other/unseen"), ("basic", "basic")],
)  # fmt: skip
def test_a_reports_bars_are_labelled_for_a_person(label: str, shown: str) -> None:
    from mlcore.monitoring.report import _label

    assert _label(label) == shown


def test_the_reports_picture_labels_dollars_and_unseen_categories_for_a_person(reference: Any) -> None:
    from mlcore.monitoring import render_drift_html

    columns, predictions = window(400, 11)
    columns["city"][:40] = "z"  # a category the training never saw
    html = render_drift_html(check_drift(spec_of(), 1, reference, columns, predictions))
    assert ">other/unseen</text>" in html and "__other__</text>" not in html
