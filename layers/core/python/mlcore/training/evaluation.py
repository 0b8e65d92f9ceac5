"""Metrics of a model's outputs on a holdout (numpy only)."""

from __future__ import annotations

import numpy as np

from mlcore.catalog import Comparison
from mlcore.spec import LOWER_IS_BETTER, ModelSpec, Task


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


def label_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Accuracy and F1 (binary: of the second class; else macro): what labels alone can tell."""
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    f1s = []
    for label in classes:
        truth, guess = y_true == label, y_pred == label
        denominator = float(truth.sum() + guess.sum())
        f1s.append(2 * float(np.sum(truth & guess)) / denominator if denominator else 0.0)
    return {
        "accuracy": float(np.mean(y_true == y_pred)) if y_true.size else float("nan"),
        "f1": f1s[1] if len(classes) == 2 else float(np.mean(f1s)),
    }


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, classes: list[str]
) -> dict[str, float]:
    """Accuracy, F1 (binary: of the second class; else macro), ROC AUC (macro one-vs-rest), log loss."""
    y_true = np.asarray(y_true).astype(str)
    aucs = [binary_auc(y_true == label, proba[:, index]) for index, label in enumerate(classes)]
    binary = len(classes) == 2
    index_of = {label: i for i, label in enumerate(classes)}
    true_index = np.array([index_of.get(label, -1) for label in y_true])
    known = true_index >= 0
    picked = np.clip(proba[np.flatnonzero(known), true_index[known]], 1e-15, 1.0)
    return {
        **label_metrics(y_true, y_pred, classes),
        "roc_auc": aucs[1] if binary else float(np.nanmean(aucs)),
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
        return classification_metrics(y_true, outputs["label"], outputs["probabilities"], classes)
    return regression_metrics(y_true, outputs["label"])


def _rows(outputs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[rows] for name, values in outputs.items()}


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
        ours = score(spec, truth[rows], _rows(challenger[0], rows), challenger[1])[metric]
        theirs = score(spec, truth[rows], _rows(champion[0], rows), champion[1])[metric]
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
