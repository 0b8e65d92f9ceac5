"""ONNX export of a fitted pipeline and the parity check that proves it serves the same outputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlcore.catalog import ESTIMATORS
from mlcore.errors import ConversionError, ParityError
from mlcore.serving import OnnxModel
from mlcore.spec import ModelSpec, Task
from mlcore.training.pipeline import frame

# Parity: ONNX computes in float32, scikit-learn in float64. A row disagrees when its output
# differs by more than ATOL; a model passes when at most MAX_DISAGREEMENT of holdout rows do.
PARITY_ATOL = 1e-3
PARITY_MAX_DISAGREEMENT = 0.001
# ONNX opsets the served onnxruntime runs; onnxmltools' tree converters support ai.onnx.ml up to 3.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def export_onnx(pipeline: Any, spec: ModelSpec) -> bytes:
    """Convert a fitted pipeline to ONNX with one named input per feature.

    Raises
    ------
    ConversionError
        Naming the estimator, when skl2onnx cannot convert it.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if spec.estimator.entrypoint is not None:
        from mlcore.training.custom import register_custom_converters

        register_custom_converters(spec.estimator.entrypoint)
    library = ESTIMATORS[spec.estimator.kind].library
    if library is not None:
        from mlcore.training.boosting import prepare_export

        prepare_export(library, pipeline.steps[-1][1])

    inputs = [
        (f.name, FloatTensorType([None, 1]) if f.is_numeric else StringTensorType([None, 1])) for f in spec.features
    ]
    options: dict[Any, Any] = {}
    if spec.task is Task.CLASSIFICATION:
        options = {id(pipeline.steps[-1][1]): {"zipmap": False}}
    try:
        model = convert_sklearn(pipeline, initial_types=inputs, options=options, target_opset=TARGET_OPSET)
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
    if spec.task is Task.CLASSIFICATION:
        expected = pipeline.predict_proba(data)
    else:
        expected = pipeline.predict(data).reshape(-1, 1)
    what = f"'{spec.estimator.kind}' ({type(pipeline.steps[-1][1]).__name__})"
    return compare_outputs(expected, onnx_model.predict(columns), spec, what, "scikit-learn")


def compare_outputs(
    expected: np.ndarray, outputs: dict[str, np.ndarray], spec: ModelSpec, what: str, reference: str
) -> float:
    """The max absolute difference between an ONNX model's outputs and the model's own (probabilities per
    class, or the regressor's predictions, one row per holdout row).

    Raises
    ------
    ParityError
        Naming `what` and the `reference`, when more than 0.1 % of rows differ by more than 1e-3.
    """
    actual = outputs["probabilities"] if spec.task is Task.CLASSIFICATION else outputs["label"].reshape(-1, 1)
    if np.shape(actual) != np.shape(expected):
        raise ParityError(
            f"ONNX export of {what} gives outputs of shape {np.shape(actual)} on the holdout, {reference} "
            f"{np.shape(expected)}; not registering"
        )
    difference = np.abs(np.asarray(actual, dtype=np.float64) - expected).max(axis=1)
    disagreeing = float(np.mean(difference > PARITY_ATOL * np.maximum(1.0, np.abs(expected).max(axis=1))))
    if disagreeing > PARITY_MAX_DISAGREEMENT:
        raise ParityError(
            f"ONNX export of {what} disagrees with {reference} on {disagreeing:.2%} of holdout rows "
            f"(max abs diff {difference.max():.2e}); not registering"
        )
    return float(difference.max())
