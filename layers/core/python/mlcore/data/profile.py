"""The training profile of a model: per-feature distributions and the predictions', computed once at training.

Per numeric feature: 100 midpoint quantiles (for a normed Wasserstein distance and a KS test), decile
bins (for PSI), moments, the missing rate, and the frequencies of few-valued features; per
categorical feature: the top-K frequencies and the missing rate. Drift checks compare served
traffic with it and never reload training data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from mlcore.spec import ModelSpec

# Midpoints of 100 equal-probability bins: the sample's min and max (levels 0 and 1) grow with the
# number of rows and would inflate the distance of heavy-tailed features.
QUANTILES = (np.arange(100) + 0.5) / 100
PSI_EDGES = np.linspace(0.1, 0.9, 9)
TOP_K = 50
MAX_DISCRETE = 20
OTHER = "__other__"


class NumericProfile(BaseModel):
    """A numeric feature (or a regressor's predictions) in the training set."""

    kind: Literal["numeric"] = "numeric"
    count: int  # values present
    missing_rate: float
    quantiles: list[float] = Field(default_factory=list)  # at QUANTILES
    psi_edges: list[float] = Field(default_factory=list)
    psi_proportions: list[float] = Field(default_factory=list)
    mean: float = 0.0
    std: float = 0.0
    min: float = 0.0
    max: float = 0.0
    # Few distinct values (counts, ratings): small samples are tested like categories, since KS
    # assumes a continuous distribution.
    frequencies: dict[str, float] | None = None
    other: float = 0.0


class CategoricalProfile(BaseModel):
    """A categorical feature (or a classifier's predictions): its top-K frequencies among present values."""

    kind: Literal["categorical"] = "categorical"
    count: int
    missing_rate: float
    frequencies: dict[str, float]
    other: float  # the share of values beyond the top K


FeatureProfile = Annotated[NumericProfile | CategoricalProfile, Field(discriminator="kind")]


class Profile(BaseModel):
    """What a version learned from: stored as `profile.json` with it, the reference of every drift check."""

    model_name: str
    rows: int
    features: dict[str, FeatureProfile]
    prediction: FeatureProfile


def sorted_present(values: Any) -> tuple[np.ndarray, int]:
    """The non-missing values, sorted (one sort serves quantiles and bin counts), and the total count."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    present.sort()
    return present, values.size


def quantiles_at(ordered: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of a sorted array by linear interpolation (numpy's default method), without re-sorting."""
    positions = levels * (ordered.size - 1)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, ordered.size - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (positions - low)


def bin_counts(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin `(-inf, e0], (e0, e1], ..., (ek, inf)` of a sorted array."""
    cuts = np.searchsorted(ordered, edges, side="right")
    return np.diff(np.concatenate(([0], cuts, [ordered.size])))


def numeric_profile(values: np.ndarray) -> NumericProfile:
    present, total = sorted_present(values)
    if present.size == 0:
        return NumericProfile(count=0, missing_rate=1.0)
    edges = np.unique(quantiles_at(present, PSI_EDGES))
    counts = bin_counts(present, edges)
    distinct, distinct_counts = np.unique(present, return_counts=True)
    frequencies = (
        {value_label(v): float(c / present.size) for v, c in zip(distinct, distinct_counts, strict=True)}
        if distinct.size <= MAX_DISCRETE
        else None
    )
    return NumericProfile(
        count=int(present.size),
        missing_rate=float(1 - present.size / total),
        quantiles=quantiles_at(present, QUANTILES).tolist(),
        psi_edges=edges.tolist(),
        psi_proportions=(counts / present.size).tolist(),
        mean=float(present.mean()),
        std=float(present.std()),
        min=float(present.min()),
        max=float(present.max()),
        frequencies=frequencies,
    )


def value_label(value: float) -> str:
    return f"{value:g}"


def category_counts(values: Any) -> tuple[list[str], np.ndarray, int, int]:
    """Distinct values with their counts (most frequent first), the missing count and the total.

    `values` is anything Arrow reads as strings (a numpy object array, a list, an Arrow array);
    None and "" are missing. Counting runs in Arrow's C++ rather than over Python objects.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.Array | pa.ChunkedArray):
        array = values
    else:  # model input tensors are (rows, 1)
        array = pa.array(np.asarray(values, dtype=object).ravel(), type=pa.string(), from_pandas=True)
    array = pc.cast(array, pa.string())
    counted = pc.value_counts(pc.drop_null(array))
    labels = counted.field("values").to_pylist()
    counts = counted.field("counts").to_numpy(zero_copy_only=False)
    empty = [i for i, label in enumerate(labels) if label == ""]
    missing = array.null_count + int(counts[empty].sum())
    keep = np.ones(len(labels), dtype=bool)
    keep[empty] = False
    order = np.argsort(-counts[keep], kind="stable")
    kept = [label for label, flag in zip(labels, keep, strict=True) if flag]
    return [kept[i] for i in order], counts[keep][order], missing, len(array)


def categorical_profile(values: Any) -> CategoricalProfile:
    labels, counts, missing, total = category_counts(values)
    present = max(int(counts.sum()), 1)
    top = {label: float(count / present) for label, count in zip(labels[:TOP_K], counts[:TOP_K], strict=True)}
    return CategoricalProfile(
        count=int(counts.sum()),
        missing_rate=float(missing / total) if total else 0.0,
        frequencies=top,
        other=max(1.0 - sum(top.values()), 0.0),
    )


def build_profile(spec: ModelSpec, columns: dict[str, np.ndarray], predictions: np.ndarray) -> Profile:
    """The profile of a training set and of the model's predictions on it."""
    features: dict[str, NumericProfile | CategoricalProfile] = {
        f.name: numeric_profile(columns[f.name]) if f.is_numeric else categorical_profile(columns[f.name])
        for f in spec.features
    }
    prediction = categorical_profile(predictions) if spec.task == "classification" else numeric_profile(predictions)
    return Profile(model_name=spec.name, rows=len(predictions), features=features, prediction=prediction)
