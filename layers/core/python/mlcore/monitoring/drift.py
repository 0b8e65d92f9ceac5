"""Drift checks of served traffic against a training profile (numpy, and pyarrow to count categories).

Evidently's choice of tests: KS and chi-square on small samples, normed Wasserstein and
Jensen-Shannon distances on large ones; PSI alongside.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel

from mlcore.data import (
    OTHER,
    QUANTILES,
    CategoricalProfile,
    CheckResult,
    NumericProfile,
    Profile,
    bin_counts,
    category_counts,
    quantiles_at,
    sorted_present,
    value_label,
)
from mlcore.spec import Feature, FeatureType, ModelSpec

_EPS = 1e-6


def normed_wasserstein(reference: NumericProfile, current: np.ndarray) -> float:
    """Wasserstein-1 distance between quantile functions, divided by the reference's std (as Evidently norms it)."""
    current_quantiles = quantiles_at(np.sort(current), QUANTILES)  # cheap when already sorted
    # W1 is the integral over p of |F_ref^-1(p) - F_cur^-1(p)|: a midpoint sum over the 100 bins.
    distance = float(np.mean(np.abs(np.asarray(reference.quantiles) - current_quantiles)))
    return distance / max(reference.std, _EPS)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.clip(expected, _EPS, None)
    actual = np.clip(actual, _EPS, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _aligned(
    reference: NumericProfile | CategoricalProfile, labels: list[str], counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reference and current category proportions over the same support (unseen values included)."""
    observed = dict(zip(labels, (counts / max(int(counts.sum()), 1)).tolist(), strict=True))
    frequencies = reference.frequencies or {}
    support = list(frequencies)
    unseen = [label for label in observed if label not in frequencies]
    ref = [frequencies[label] for label in support] + [reference.other]
    cur = [observed.get(label, 0.0) for label in support] + [sum(observed[label] for label in unseen)]
    return np.asarray(ref), np.asarray(cur), unseen


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log, as scipy's default that Evidently uses)."""
    p = p / max(p.sum(), _EPS)
    q = q / max(q.sum(), _EPS)
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))

    return float(np.sqrt(max((kl(p, m) + kl(q, m)) / 2, 0.0)))


# Evidently's rule: statistical tests on small samples, distances on large ones.
SMALL_SAMPLE = 1000
P_VALUE = 0.05
# A feature whose share of missing values moved this much (and beyond chance) has drifted, whatever its values do:
# a feed that broke sends nulls, and the values left still look like the reference's.
MISSING_SHIFT = 0.1


class Method(StrEnum):
    KS = "ks"  # p-value
    CHI_SQUARE = "chi_square"  # p-value
    WASSERSTEIN = "normed_wasserstein"  # distance
    JENSEN_SHANNON = "jensen_shannon"  # distance


DISTANCES = frozenset({Method.WASSERSTEIN, Method.JENSEN_SHANNON})  # the other methods score a p-value


def _reference_cdf(reference: NumericProfile, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference CDF just below and at each of `values`: interpolated between its stored quantiles, and with a
    jump at a value several quantiles share (a point mass: the zeros of a rainfall, an integer's values), whose share
    of the levels is the mass there, as a two-sample test counts ties."""
    quantiles = np.asarray(reference.quantiles)
    levels = np.asarray(QUANTILES)
    unique, first, counts = np.unique(quantiles, return_index=True, return_counts=True)
    step = 1.0 / quantiles.size
    atom = counts > 1
    below = np.where(atom, first * step, levels[first])  # the CDF's left limit at each distinct quantile
    at = np.where(atom, (first + counts) * step, levels[first])  # and its value there
    index = np.searchsorted(unique, values, side="left")
    inside = np.clip(index, 0, unique.size - 1)
    exact = (index < unique.size) & (unique[inside] == values)
    previous = np.clip(index - 1, 0, unique.size - 1)
    span = np.where(unique[inside] > unique[previous], unique[inside] - unique[previous], 1.0)
    between = at[previous] + (below[inside] - at[previous]) * (values - unique[previous]) / span
    between = np.where(index == 0, 0.0, np.where(index >= unique.size, 1.0, between))
    return np.where(exact, below[inside], between), np.where(exact, at[inside], between)


def ks_p_value(reference: NumericProfile, current: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (asymptotic), the reference given by its quantiles: the statistic is
    the largest gap between the CDFs just below and at each current value (ties in either sample count whole)."""
    current = np.sort(current)
    m = current.size
    distinct, first, counts = np.unique(current, return_index=True, return_counts=True)
    ecdf_hi, ecdf_lo = (first + counts) / m, first / m
    ref_lo, ref_hi = _reference_cdf(reference, distinct)
    statistic = float(max(np.max(np.abs(ecdf_hi - ref_hi)), np.max(np.abs(ref_lo - ecdf_lo))))
    n = reference.count
    effective = n * m / (n + m)
    lam = (np.sqrt(effective) + 0.12 + 0.11 / np.sqrt(effective)) * statistic
    k = np.arange(1, 101)
    return float(np.clip(2 * np.sum((-1.0) ** (k - 1) * np.exp(-2 * k**2 * lam**2)), 0.0, 1.0))


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) (series or continued fraction, Numerical Recipes)."""
    if x <= 0:
        return 1.0
    log_prefix = a * np.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        for i in range(1, 500):
            term *= x / (a + i)
            total += term
            if abs(term) < abs(total) * 1e-12:
                break
        return float(max(0.0, 1.0 - total * np.exp(log_prefix)))
    b, c, d = x + 1 - a, 1e300, 1 / (x + 1 - a)
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = 1 / (an * d + b) if abs(an * d + b) > 1e-300 else 1e300
        c = b + an / c if abs(b + an / c) > 1e-300 else 1e-300
        h *= d * c
        if abs(d * c - 1) < 1e-12:
            break
    return float(np.exp(log_prefix) * h)


def chi_square_p_value(reference: np.ndarray, reference_count: int, current: np.ndarray) -> float:
    """Pearson chi-square p-value that the reference sample (`reference_count` values in these proportions)
    and the current counts come from one distribution: the two-sample test of a 2 x K table, as scipy's
    `chi2_contingency` without continuity correction.

    Two samples, not the current one against the reference's proportions taken as exact: a category the
    reference never saw is expected in the current sample in proportion to how often it occurs in both, so one
    such value among hundreds weighs as little as it should, and many weigh as much.
    """
    table = np.vstack([np.asarray(reference, dtype=float) * reference_count, np.asarray(current, dtype=float)])
    table = table[:, table.sum(axis=0) > 0]  # a category in neither sample is no degree of freedom
    rows = table.sum(axis=1)
    if not rows.all():
        return 1.0  # an empty sample: nothing to compare (one category left gives a statistic of 0, and 1 too)
    expected = np.outer(rows, table.sum(axis=0)) / rows.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return _gamma_q((table.shape[1] - 1) / 2, statistic / 2)


class FeatureDrift(BaseModel):
    feature: str
    kind: str
    method: Method
    score: float
    threshold: float
    drifted: bool
    psi: float
    missing_rate: float
    reference_missing_rate: float
    findings: list[str] = []
    reference_histogram: list[float] = []
    current_histogram: list[float] = []
    labels: list[str] = []
    # The champion's permutation importance of this feature (the primary metric's loss when shuffled).
    importance: float | None = None
    # A feature a model takes from a view is checked once for the view (its newest window against the one
    # before, at `checked_at`), not again against each model's training profile.
    view: str | None = None
    checked_at: str | None = None


class PerformanceCheck(BaseModel):
    """Live performance on the labelled part of the window (feedback) against the holdout's."""

    metric: str
    live: float
    holdout: float
    labelled_rows: int
    degradation: float
    threshold: float
    degraded: bool


class DriftReport(BaseModel):
    model_name: str
    version: int
    rows: int
    features: list[FeatureDrift]
    drift_share: float
    dataset_drift: bool
    prediction: FeatureDrift | None = None
    performance: PerformanceCheck | None = None
    # The data contract's column checks on the served traffic.
    quality: list[CheckResult] = []
    # The version's inputs no row of the window gave a value for: every row was answered by a version that does not
    # read it (an earlier champion, before the spec added it). Not checked, nor counted in the drifted share.
    unread: list[str] = []

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def rank_by_importance(self, importance: dict[str, float]) -> None:
        """Order the features by the model's importance of them, most important first (unknown last)."""
        for feature in self.features:
            feature.importance = importance.get(feature.feature)
        if importance:
            self.features.sort(key=lambda f: -math.inf if f.importance is None else f.importance, reverse=True)


def _numeric_drift(
    name: str, reference: NumericProfile, raw: np.ndarray, threshold: float, spec_feature: Feature | None
) -> FeatureDrift:
    present, total = sorted_present(raw)
    findings = []
    if spec_feature is not None and present.size:
        below = int(np.searchsorted(present, spec_feature.min, side="left")) if spec_feature.min is not None else 0
        above = (
            present.size - int(np.searchsorted(present, spec_feature.max, side="right"))
            if spec_feature.max is not None
            else 0
        )
        findings += [f"{below} values below min {spec_feature.min}"] if below else []
        findings += [f"{above} values above max {spec_feature.max}"] if above else []
    if present.size <= SMALL_SAMPLE and reference.frequencies is not None:
        labels, counts, _, _ = category_counts([value_label(v) for v in present])
        ref, cur, _ = _aligned(reference, labels, counts)
        method, score = Method.CHI_SQUARE, chi_square_p_value(ref, reference.count, cur * present.size)
        drifted = score < P_VALUE
    elif present.size <= SMALL_SAMPLE:
        method, score = Method.KS, ks_p_value(reference, present) if present.size else 0.0
        drifted = score < P_VALUE
    else:
        method, score = Method.WASSERSTEIN, normed_wasserstein(reference, present)
        drifted = score >= threshold
    missing = _missing_shift(reference, total - present.size, total)
    findings += [missing] if missing else []
    drifted = drifted or missing is not None
    edges = np.asarray(reference.psi_edges)
    current_hist = bin_counts(present, edges) / max(present.size, 1)
    return FeatureDrift(
        feature=name,
        kind="numeric",
        method=method,
        score=score,
        threshold=threshold if method is Method.WASSERSTEIN else P_VALUE,
        drifted=drifted,
        psi=psi(np.asarray(reference.psi_proportions), current_hist),
        missing_rate=float(1 - present.size / max(total, 1)),
        reference_missing_rate=reference.missing_rate,
        findings=findings,
        reference_histogram=list(reference.psi_proportions),
        current_histogram=current_hist.tolist(),
        labels=[f"≤{e:.3g}" for e in edges] + [f">{edges[-1]:.3g}" if edges.size else "all"],
    )


def _missing_shift(reference: NumericProfile | CategoricalProfile, missing: int, total: int) -> str | None:
    """A finding when the share of missing values moved by MISSING_SHIFT or more, beyond chance (the chi-square
    test of missing against present, as for a category); None when it did not."""
    if not total or reference.missing_rate >= 1.0:
        return None
    share = missing / total
    if abs(share - reference.missing_rate) < MISSING_SHIFT:
        return None
    rows = round(reference.count / (1 - reference.missing_rate))  # the reference's rows, present or not
    expected = np.array([1 - reference.missing_rate, reference.missing_rate])
    p_value = chi_square_p_value(expected, rows, np.array([total - missing, missing], dtype=float))
    if p_value >= P_VALUE:
        return None
    return f"missing in {share:.0%} of rows (reference {reference.missing_rate:.0%}; chi-square p {p_value:.2g})"


def _categorical_drift(name: str, reference: CategoricalProfile, raw: np.ndarray, threshold: float) -> FeatureDrift:
    labels, counts, missing, total = category_counts(raw)
    present = int(counts.sum())
    ref, cur, unseen = _aligned(reference, labels, counts)
    if present <= SMALL_SAMPLE:
        method, score = Method.CHI_SQUARE, chi_square_p_value(ref, reference.count, cur * present)
        threshold, drifted = P_VALUE, score < P_VALUE
    else:
        method, score = Method.JENSEN_SHANNON, jensen_shannon(ref, cur)
        drifted = score >= threshold
    labels = [*reference.frequencies, OTHER]
    shifted = _missing_shift(reference, missing, total)
    findings = [f"unseen categories: {sorted(unseen)[:5]}"] if unseen else []
    return FeatureDrift(
        feature=name,
        kind="categorical",
        method=method,
        score=score,
        threshold=threshold,
        drifted=drifted or shifted is not None,
        psi=psi(ref, cur),
        missing_rate=float(missing / total) if total else 0.0,
        reference_missing_rate=reference.missing_rate,
        findings=[*findings, shifted] if shifted else findings,
        reference_histogram=ref.tolist(),
        current_histogram=cur.tolist(),
        labels=labels,
    )


def window_column(window: Any, name: str, numeric: bool) -> Any:
    """A window column as the drift check takes it: float64 with NaN for numbers, Arrow strings for categories."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = window.column(name) if name in window.column_names else pa.nulls(window.num_rows, pa.string())
    if numeric:
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    return column


def reference_features(spec: ModelSpec, profile: Profile) -> list[Feature]:
    """The features a version's traffic is checked on: its own inputs, which its profile describes. Each as the spec
    declares it (its threshold, its range) while the spec has it with the same kind; one the spec dropped, or changed
    the kind of, since the version was trained, as the profile knows it. A feature the spec added since is no input
    of this version: the traffic it answered has none of it."""
    declared = {feature.name: feature for feature in spec.features}
    features = []
    for name, reference in profile.features.items():
        numeric = isinstance(reference, NumericProfile)
        feature = declared.get(name)
        if feature is None or feature.is_numeric != numeric:
            kind = FeatureType.NUMERIC if numeric else FeatureType.CATEGORICAL
            feature = Feature(name=name, type=kind, nullable=True, allow_unseen=True)
        features.append(feature)
    return features


def features_drift(
    features: list[Feature],
    reference: dict[str, NumericProfile | CategoricalProfile],
    columns: dict[str, Any],
    threshold: Callable[[Feature], float],
) -> list[FeatureDrift]:
    """Each feature's values (`columns`, as `check_drift` takes them) against its reference profile."""

    def one(feature: Feature) -> FeatureDrift:
        profile = reference[feature.name]
        if isinstance(profile, NumericProfile):
            return _numeric_drift(feature.name, profile, columns[feature.name], threshold(feature), feature)
        return _categorical_drift(feature.name, profile, columns[feature.name], threshold(feature))

    # Sorting and counting run in numpy and Arrow without the GIL: features are checked in parallel.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, features))


def check_drift(
    spec: ModelSpec,
    version: int,
    profile: Profile,
    columns: dict[str, Any],
    predictions: Any | None,
    *,
    from_views: list[FeatureDrift] | None = None,
    unread: Collection[str] = (),
    rows: int | None = None,
) -> DriftReport:
    """Compare a window of served traffic with the training profile.

    Parameters
    ----------
    spec
        The model spec: per-feature and model thresholds, share of drifted features for dataset drift.
    version
        The version whose profile is the reference.
    profile
        The profile stored with that version.
    columns
        The window's feature values, one array per feature: numbers as floats (NaN if missing),
        categories as anything Arrow reads as strings (an Arrow array avoids a conversion).
    predictions
        The version's own outputs in the window (not another version's, nor a challenger's); None when it answered
        too few rows to compare.
    from_views
        The drift of features the model takes from feature views, as their views' last checks found it:
        those features are not checked again here, and count toward the drifted share like the others.
    unread
        The version's inputs that no row of the window was answered by a version reading: not checked.
    rows
        The window's rows, when a column holds only some of them (those answered by a version that reads it).

    Returns
    -------
    DriftReport
        Per-feature scores against thresholds, quality findings and the dataset-level decision.
    """

    views = [f for f in from_views or [] if f.feature in profile.features]  # the version's inputs only
    checked = {f.feature for f in views}
    own = [f for f in reference_features(spec, profile) if f.name not in checked and f.name not in unread]
    results = [*features_drift(own, profile.features, columns, spec.drift_threshold), *views]
    share = sum(r.drifted for r in results) / len(results) if results else 0.0
    prediction = None  # the version answered too few of the window's rows to compare
    if predictions is not None:
        reference, threshold = profile.prediction, spec.drift.threshold
        prediction = (
            _numeric_drift("prediction", reference, predictions, threshold, None)
            if isinstance(reference, NumericProfile)
            else _categorical_drift("prediction", reference, predictions, threshold)
        )
    return DriftReport(
        model_name=spec.name,
        version=version,
        rows=rows if rows is not None else len(next(iter(columns.values()))) if columns else 0,
        features=results,
        drift_share=share,
        dataset_drift=share >= spec.drift.dataset_share,
        prediction=prediction,
        unread=sorted(unread),
    )
