"""The scikit-learn pipeline a spec describes, fitted on a training table (scikit-learn imported on use)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pyarrow as pa

from mlcore.catalog import ESTIMATORS
from mlcore.serving import signature_of, tensors_from_columns
from mlcore.spec import ModelSpec, Task


def _estimator(spec: ModelSpec) -> Any:
    """An unfitted estimator of the spec's kind, its parameters applied and seeded by `data.seed`."""
    module, name = ESTIMATORS[spec.estimator.kind].implementation.split(":")
    cls = getattr(importlib.import_module(module), name)
    params = dict(spec.estimator.params)
    if "random_state" in cls().get_params():
        params.setdefault("random_state", spec.data.seed)
    return cls(**params)


def build_pipeline(spec: ModelSpec) -> Any:
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
    return Pipeline([("features", ColumnTransformer(transformers)), ("model", _estimator(spec))])


def frame(columns: dict[str, np.ndarray], spec: ModelSpec) -> Any:
    """The pandas frame scikit-learn trains on, from model input columns."""
    import pandas as pd

    return pd.DataFrame({f.name: columns[f.name].ravel() for f in spec.features})


def table_columns(table: pa.Table, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Model input columns from a contract-checked table."""
    return tensors_from_columns(
        {name: table.column(name).to_pylist() for name in spec.feature_names}, signature_of(spec.features)
    )


def fit(spec: ModelSpec, train: pa.Table) -> tuple[Any, list[str] | None]:
    """Fit the spec's pipeline on the training table; returns it and the class labels (classifiers)."""
    pipeline = build_pipeline(spec)
    target = np.asarray(train.column(spec.target).to_pylist())
    pipeline.fit(frame(table_columns(train, spec), spec), target)
    classes = [str(c) for c in pipeline.classes_] if spec.task is Task.CLASSIFICATION else None
    return pipeline, classes
