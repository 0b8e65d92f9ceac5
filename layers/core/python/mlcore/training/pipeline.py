"""The scikit-learn pipeline a spec describes, fitted on a training table (scikit-learn imported on use)."""

from __future__ import annotations

import importlib
import math
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from mlcore.catalog import ESTIMATORS, CrossValidation
from mlcore.serving import signature_of, tensors_from_columns
from mlcore.spec import ModelSpec, Task
from mlcore.training.evaluation import score

Params = dict[str, Any]


def _estimator(spec: ModelSpec, overrides: Params | None = None) -> Any:
    """An unfitted estimator of the spec's kind with its parameters (and a trial's), seeded by `data.seed`."""
    module, name = ESTIMATORS[spec.estimator.kind].implementation.split(":")
    cls = getattr(importlib.import_module(module), name)
    params = {**spec.estimator.params, **(overrides or {})}
    if "random_state" in cls().get_params():
        params.setdefault("random_state", spec.data.seed)
    return cls(**params)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return repr(value)


def resolved_params(pipeline: Any) -> Params:
    """Every parameter of the fitted estimator, defaults included, as JSON values (others by their repr)."""
    return {name: _json_value(value) for name, value in sorted(pipeline.named_steps["model"].get_params().items())}


def build_pipeline(spec: ModelSpec, params: Params | None = None) -> Any:
    """A scikit-learn pipeline: impute and scale numeric features, one-hot encode categoricals."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f.name for f in spec.features if f.is_numeric]
    categorical = [f.name for f in spec.features if not f.is_numeric]
    transformers = []
    if numeric:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if ESTIMATORS[spec.estimator.kind].scaled:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        transformers.append(("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
    return Pipeline([("features", ColumnTransformer(transformers)), ("model", _estimator(spec, params))])


def frame(columns: dict[str, np.ndarray], spec: ModelSpec) -> Any:
    """The pandas frame scikit-learn trains on, from model input columns."""
    import pandas as pd

    return pd.DataFrame({f.name: columns[f.name].ravel() for f in spec.features})


def table_columns(table: pa.Table, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Model input columns from a contract-checked table."""
    return tensors_from_columns(
        {name: table.column(name).to_pylist() for name in spec.feature_names}, signature_of(spec.features)
    )


def _classes(pipeline: Any, spec: ModelSpec) -> list[str] | None:
    return [str(c) for c in pipeline.classes_] if spec.task is Task.CLASSIFICATION else None


def fit(spec: ModelSpec, train: pa.Table, params: Params | None = None) -> tuple[Any, list[str] | None]:
    """Fit the spec's pipeline on the training table; returns it and the class labels (classifiers)."""
    pipeline = build_pipeline(spec, params)
    target = np.asarray(train.column(spec.target).to_pylist())
    pipeline.fit(frame(table_columns(train, spec), spec), target)
    return pipeline, _classes(pipeline, spec)


def _outputs(pipeline: Any, rows: Any, spec: ModelSpec) -> dict[str, np.ndarray]:
    """What the fitted pipeline says of `rows`, shaped like a served model's outputs."""
    if spec.task is Task.CLASSIFICATION:
        return {"label": pipeline.predict(rows).astype(str), "probabilities": pipeline.predict_proba(rows)}
    return {"label": pipeline.predict(rows)}


def cross_validate(
    spec: ModelSpec, train: pa.Table, folds: int, params: Params | None = None
) -> dict[str, CrossValidation]:
    """Every metric's mean and standard deviation over `folds` folds of the training table.

    Classifiers keep each class's share in every fold when each class has a row per fold.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    rows = frame(table_columns(train, spec), spec)
    target = np.asarray(train.column(spec.target).to_pylist())
    splitter: Any = KFold(folds, shuffle=True, random_state=spec.data.seed)
    if spec.task is Task.CLASSIFICATION and np.unique(target.astype(str), return_counts=True)[1].min() >= folds:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=spec.data.seed)
    scores: defaultdict[str, list[float]] = defaultdict(list)
    for fit_rows, test_rows in splitter.split(rows, target):
        pipeline = build_pipeline(spec, params)
        pipeline.fit(rows.iloc[fit_rows], target[fit_rows])
        found = score(spec, target[test_rows], _outputs(pipeline, rows.iloc[test_rows], spec), _classes(pipeline, spec))
        for metric, value in found.items():
            scores[metric].append(value)
    return {
        metric: CrossValidation(folds=folds, mean=float(np.nanmean(values)), sd=float(np.nanstd(values, ddof=1)))
        for metric, values in scores.items()
    }
