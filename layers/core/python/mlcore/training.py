"""Training in the Batch container: a scikit-learn pipeline from the spec, ONNX export, parity check.

Only the training image imports this module (scikit-learn does not fit in a Lambda package).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from mlcore.drift import build_profile
from mlcore.errors import ConversionError, ParityError
from mlcore.evaluation import score
from mlcore.messages import TrainingResult
from mlcore.pipeline import run_prefix
from mlcore.registry import Registry
from mlcore.serving import OnnxModel, load_served_model, signature_of, tensors_from_columns
from mlcore.spec import ModelSpec, Task
from mlcore.storage import ObjectStore
from mlcore.validation import read_parquet

# Parity: ONNX computes in float32, scikit-learn in float64. A row disagrees when its output
# differs by more than ATOL; a model passes when at most MAX_DISAGREEMENT of holdout rows do.
PARITY_ATOL = 1e-3
PARITY_MAX_DISAGREEMENT = 0.001
TREE_ESTIMATORS = {
    "random_forest_classifier",
    "gradient_boosting_classifier",
    "random_forest_regressor",
    "gradient_boosting_regressor",
}


def _estimator(spec: ModelSpec) -> Any:
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    kinds: dict[str, Any] = {
        "logistic_regression": LogisticRegression,
        "random_forest_classifier": RandomForestClassifier,
        "gradient_boosting_classifier": GradientBoostingClassifier,
        "linear_regression": LinearRegression,
        "ridge": Ridge,
        "random_forest_regressor": RandomForestRegressor,
        "gradient_boosting_regressor": GradientBoostingRegressor,
    }
    params = dict(spec.estimator.params)
    cls = kinds[spec.estimator.kind]
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
        # Trees need no scaling, and a float32 scaler in ONNX would move values across split thresholds.
        if spec.estimator.kind not in TREE_ESTIMATORS:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        transformers.append(("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
    return Pipeline([("features", ColumnTransformer(transformers)), ("model", _estimator(spec))])


def frame(columns: dict[str, np.ndarray], spec: ModelSpec) -> Any:
    """The pandas frame scikit-learn trains on, from model input columns."""
    import pandas as pd

    return pd.DataFrame({f.name: columns[f.name].ravel() for f in spec.features})


def export_onnx(pipeline: Any, spec: ModelSpec) -> bytes:
    """Convert a fitted pipeline to ONNX with one named input per feature.

    Raises
    ------
    ConversionError
        Naming the estimator, when skl2onnx cannot convert it.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        (f.name, FloatTensorType([None, 1]) if f.is_numeric else StringTensorType([None, 1])) for f in spec.features
    ]
    options: dict[Any, Any] = {}
    if spec.task is Task.CLASSIFICATION:
        options = {id(pipeline.steps[-1][1]): {"zipmap": False}}
    try:
        model = convert_sklearn(pipeline, initial_types=inputs, options=options, target_opset=17)
    except Exception as exc:  # skl2onnx raises many types; the message must name the estimator
        raise ConversionError(
            f"estimator '{spec.estimator.kind}' ({type(pipeline.steps[-1][1]).__name__}) "
            f"cannot be exported to ONNX: {exc}"
        ) from exc
    return bytes(model.SerializeToString())


def check_parity(pipeline: Any, onnx_model: OnnxModel, columns: dict[str, np.ndarray], spec: ModelSpec) -> float:
    """Prove the ONNX model reproduces the pipeline on the holdout; returns the max absolute difference.

    Raises
    ------
    ParityError
        Naming the estimator, when more than 0.1 % of rows differ by more than 1e-3.
    """
    data = frame(columns, spec)
    outputs = onnx_model.predict(columns)
    if spec.task is Task.CLASSIFICATION:
        expected = pipeline.predict_proba(data)
        actual = outputs["probabilities"]
    else:
        expected = pipeline.predict(data).reshape(-1, 1)
        actual = outputs["label"].reshape(-1, 1)
    difference = np.abs(np.asarray(actual, dtype=np.float64) - expected).max(axis=1)
    disagreeing = float(np.mean(difference > PARITY_ATOL * np.maximum(1.0, np.abs(expected).max(axis=1))))
    if disagreeing > PARITY_MAX_DISAGREEMENT:
        raise ParityError(
            f"ONNX export of '{spec.estimator.kind}' ({type(pipeline.steps[-1][1]).__name__}) disagrees with "
            f"scikit-learn on {disagreeing:.2%} of holdout rows (max abs diff {difference.max():.2e}); not registering"
        )
    return float(difference.max())


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


def train_candidate(
    model_name: str, run_id: str, *, registry: Registry, artifacts: ObjectStore, image: str = ""
) -> TrainingResult:
    """The Batch job: fit, export to ONNX, prove parity, profile, score candidate and champion on the holdout.

    Raises
    ------
    ConversionError, ParityError
        When the model cannot be served as ONNX; nothing is written to the registry.
    """
    spec = registry.get_spec(model_name)
    prefix = run_prefix(model_name, run_id)
    train = read_parquet(artifacts.get(prefix + "train.parquet"))
    holdout = read_parquet(artifacts.get(prefix + "holdout.parquet"))
    pipeline, classes = fit(spec, train)
    signature = signature_of(spec.features)
    onnx_bytes = export_onnx(pipeline, spec)
    candidate = OnnxModel(onnx_bytes, signature, classes)
    holdout_columns = table_columns(holdout, spec)
    parity = check_parity(pipeline, candidate, holdout_columns, spec)
    truth = np.asarray(holdout.column(spec.target).to_pylist())
    metrics = score(spec, truth, candidate.predict(holdout_columns), classes)
    train_columns = table_columns(train, spec)
    profile = build_profile(spec, train_columns, candidate.predict(train_columns)["label"])
    champion = registry.champion(model_name)
    champion_metrics = None
    if champion is not None:
        served = load_served_model(champion, artifacts)
        champion_metrics = score(spec, truth, served.predict(holdout_columns), champion.classes)
    result = TrainingResult(
        model_name=model_name,
        run_id=run_id,
        estimator=spec.estimator.kind,
        artifacts={
            "model": artifacts.put(prefix + "model.onnx", onnx_bytes),
            "profile": artifacts.put(prefix + "profile.json", json.dumps(profile).encode(), "application/json"),
        },
        metrics=metrics,
        signature=signature,
        classes=classes,
        training_rows=train.num_rows,
        holdout_rows=holdout.num_rows,
        parity_max_abs_diff=parity,
        champion_version=champion.version if champion else None,
        champion_metrics=champion_metrics,
        image=image,
    )
    artifacts.put(prefix + "candidate.json", result.model_dump_json(indent=2).encode(), "application/json")
    return result
