"""Metrics of a model's outputs on a holdout (numpy only)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

import numpy as np

from mlcore.catalog import Comparison, SegmentMetrics
from mlcore.errors import TrainingError
from mlcore.spec import LOWER_IS_BETTER, ModelSpec, Task, Threshold, metric_parts


def binary_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank statistic (ties get average ranks)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over runs of equal scores.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def precision_recall_curve(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall of "score >= t" at each distinct score t, highest t first: (t, precision, recall).

    Recall is NaN when there is no positive row.
    """
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], positive[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # rows with score >= t end here
    true_positives = np.cumsum(hits)[last_of_each].astype(np.float64)
    flagged = last_of_each + 1.0
    n_positive = float(positive.sum())
    recall = true_positives / n_positive if n_positive else np.full(len(flagged), np.nan)
    return ranked[last_of_each], true_positives / flagged, recall


def average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: precision at each threshold weighted by the recall it adds (scikit-learn's definition)."""
    if not len(scores) or not positive.any():
        return float("nan")
    _, precision, recall = precision_recall_curve(positive, scores)
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def recall_at_precision(positive: np.ndarray, scores: np.ndarray, precision: float) -> float:
    """The best recall of a threshold whose precision is at least `precision` (0 when none is)."""
    if not len(scores) or not positive.any():
        return float("nan")
    _, precisions, recall = precision_recall_curve(positive, scores)
    kept = precisions >= precision
    return float(recall[kept].max()) if kept.any() else 0.0


def precision_at_recall(positive: np.ndarray, scores: np.ndarray, recall: float) -> float:
    """The best precision of a threshold whose recall is at least `recall` (the lowest threshold always is)."""
    if not len(scores) or not positive.any():
        return float("nan")
    _, precision, recalls = precision_recall_curve(positive, scores)
    return float(precision[recalls >= recall].max())


def pick_threshold(positive: np.ndarray, scores: np.ndarray, threshold: Threshold) -> float | None:
    """The decision threshold ("positive when score >= t") the spec asks for, on the holdout's scores.

    `f1`: the threshold of the best F1; `recall_at_precision`: of the best recall whose precision is
    at least `threshold.precision`. Ties go to the highest threshold. None when no threshold qualifies.
    """
    if not len(scores) or not positive.any():
        return None
    thresholds, precision, recall = precision_recall_curve(positive, scores)
    if threshold.optimize == "f1":
        with np.errstate(invalid="ignore", divide="ignore"):
            goal = np.nan_to_num(2 * precision * recall / (precision + recall))
    else:
        assert threshold.precision is not None  # the spec requires it
        goal = np.where(precision >= threshold.precision, recall, -1.0)
    best = int(np.argmax(goal))  # the first maximum: the highest threshold
    return float(thresholds[best]) if goal[best] >= 0 else None


def _per_class(y_true: np.ndarray, y_pred: np.ndarray, label: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of one class (0 where undefined, as scikit-learn's zero_division=0)."""
    truth, guess = y_true == label, y_pred == label
    hits = float(np.sum(truth & guess))
    predicted, actual = float(guess.sum()), float(truth.sum())
    return (
        hits / predicted if predicted else 0.0,
        hits / actual if actual else 0.0,
        2 * hits / (predicted + actual) if predicted + actual else 0.0,
    )


def label_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Accuracy, precision, recall and F1 (binary: of the second class; else macro): what labels alone tell."""
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    per_class = np.array([_per_class(y_true, y_pred, label) for label in classes])
    precision, recall, f1 = per_class[1] if len(classes) == 2 else per_class.mean(axis=0)
    return {
        "accuracy": float(np.mean(y_true == y_pred)) if y_true.size else float("nan"),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def score_metrics(
    y_true: np.ndarray, proba: np.ndarray, classes: list[str], parametric: Iterable[str] = ()
) -> dict[str, float]:
    """What the class probabilities tell: ROC AUC, average precision and the named parametric metrics.

    Binary: of the second class's probability; else the macro mean of one-vs-rest.
    """
    y_true = np.asarray(y_true).astype(str)
    per_class: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "roc_auc": binary_auc,
        "average_precision": average_precision,
    }
    for metric in parametric:
        name, parameter = metric_parts(metric)
        assert parameter is not None  # a parametric metric always has one
        if name == "recall_at_precision":
            per_class[metric] = partial(recall_at_precision, precision=parameter)
        else:
            per_class[metric] = partial(precision_at_recall, recall=parameter)
    scored = [(label, index) for index, label in enumerate(classes)]
    if len(classes) == 2:
        scored = scored[1:]
    found = {}
    for metric, measure in per_class.items():
        values = [measure(y_true == label, proba[:, index]) for label, index in scored]
        found[metric] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return found


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, classes: list[str], parametric: Iterable[str] = ()
) -> dict[str, float]:
    """Label metrics, score metrics (with the named parametric ones) and log loss."""
    y_true = np.asarray(y_true).astype(str)
    index_of = {label: i for i, label in enumerate(classes)}
    true_index = np.array([index_of.get(label, -1) for label in y_true])
    known = true_index >= 0
    picked = np.clip(proba[np.flatnonzero(known), true_index[known]], 1e-15, 1.0)
    return {
        **label_metrics(y_true, y_pred, classes),
        **score_metrics(y_true, proba, classes, parametric),
        "log_loss": float(-np.mean(np.log(picked))) if picked.size else float("nan"),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R²."""
    y_true = np.asarray(y_true, dtype=np.float64)
    errors = np.asarray(y_pred, dtype=np.float64).ravel() - y_true
    variance = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "r2": 1.0 - float(np.sum(errors**2)) / variance if variance else float("nan"),
    }


def score(
    spec: ModelSpec, y_true: np.ndarray, outputs: dict[str, np.ndarray], classes: list[str] | None
) -> dict[str, float]:
    """Metrics of a model's outputs (`label`, and `probabilities` for classifiers) against the truth."""
    if spec.task is Task.CLASSIFICATION:
        assert classes is not None
        return classification_metrics(
            y_true, outputs["label"], outputs["probabilities"], classes, spec.parametric_metrics
        )
    return regression_metrics(y_true, outputs["label"])


def permutation_importance(
    spec: ModelSpec,
    predict: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    columns: dict[str, np.ndarray],
    truth: np.ndarray,
    classes: list[str] | None,
    *,
    repeats: int = 5,
) -> dict[str, float]:
    """Per feature: how much the primary metric worsens when that feature's holdout values are shuffled.

    The mean over `repeats` seeded shuffles, positive when the feature matters (for a lower-is-better
    metric too); features whose metric is undefined are left out.
    """
    metric = spec.metrics.primary
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    baseline = score(spec, truth, predict(columns), classes)[metric]
    rng = np.random.default_rng(spec.data.seed)
    importance = {}
    for name in spec.feature_names:
        drops = [
            sign
            * (
                baseline
                - score(spec, truth, predict({**columns, name: rng.permutation(columns[name])}), classes)[metric]
            )
            for _ in range(repeats)
        ]
        if np.isfinite(drops).all():
            importance[name] = float(np.mean(drops))
    return importance


def outputs_at(outputs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """A model's outputs on some of the rows (their numbers, or a mask)."""
    return {name: values[rows] for name, values in outputs.items()}


# A segment column with more values than this is an identifier, not a segment.
MAX_SEGMENT_VALUES = 50
NULL_SEGMENT = "(null)"


def _segment_name(value: object) -> str:
    """A segment's value as text: an integer read as a float (a CSV's integer column) names it as an integer."""
    if value is None:
        return NULL_SEGMENT
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def segment_metrics(
    spec: ModelSpec,
    segments: dict[str, list[object]],
    truth: np.ndarray,
    outputs: dict[str, np.ndarray],
    classes: list[str] | None,
) -> list[SegmentMetrics]:
    """The metrics of the holdout's rows per value of each segment column (`segments`: the column's values).

    A metric a segment's rows leave undefined (ROC AUC of a segment with one class) is left out.

    Raises
    ------
    TrainingError
        When a column has more than MAX_SEGMENT_VALUES values on the holdout.
    """
    found = []
    for column, values in segments.items():
        named = np.array([_segment_name(value) for value in values], dtype=object)
        distinct = sorted(set(named.tolist()))
        if len(distinct) > MAX_SEGMENT_VALUES:
            raise TrainingError(
                f"metrics.segments: '{column}' has {len(distinct)} values on the holdout, more than "
                f"{MAX_SEGMENT_VALUES}; segment by a feature with fewer values"
            )
        for value in distinct:
            rows = np.flatnonzero(named == value)
            metrics = score(spec, truth[rows], outputs_at(outputs, rows), classes)
            found.append(
                SegmentMetrics(
                    column=column,
                    value=value,
                    rows=len(rows),
                    metrics={name: result for name, result in metrics.items() if np.isfinite(result)},
                )
            )
    return found


def paired_bootstrap(
    spec: ModelSpec,
    truth: np.ndarray,
    challenger: tuple[dict[str, np.ndarray], list[str] | None],
    champion: tuple[dict[str, np.ndarray], list[str] | None],
    *,
    confidence: float,
    resamples: int = 1000,
) -> Comparison:
    """The interval of (challenger - champion) in the primary metric, resampling the shared holdout's rows.

    Both models are scored on the same resampled rows (paired), so the interval is of the difference
    the rows make, not of two independent noises. Positive is better for the challenger.
    """
    metric = spec.metrics.primary
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0

    def difference(rows: np.ndarray) -> float:
        ours = score(spec, truth[rows], outputs_at(challenger[0], rows), challenger[1])[metric]
        theirs = score(spec, truth[rows], outputs_at(champion[0], rows), champion[1])[metric]
        return sign * (ours - theirs)

    rng = np.random.default_rng(spec.data.seed)
    every = np.arange(len(truth))
    draws = np.array([difference(rng.integers(0, len(truth), len(truth))) for _ in range(resamples)])
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(draws, [tail, 1 - tail]) if np.isfinite(draws).any() else (np.nan, np.nan)
    return Comparison(
        metric=metric,
        confidence=confidence,
        difference=difference(every),
        low=float(low),
        high=float(high),
        resamples=resamples,
    )
