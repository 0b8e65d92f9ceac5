"""ONNX serving: a verified model in an onnxruntime session, and request validation against its signature.

Imports only numpy and onnxruntime, so it fits the predict function's layer and starts fast.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnxruntime as ort

from mlcore.errors import BadRequestError, PayloadTooLargeError

FLOAT, STRING = "float", "string"
FLOAT32_MAX = float(np.finfo(np.float32).max)


def signature_of(features: list[Any]) -> list[dict[str, Any]]:
    """The input signature of a spec's features: name, ONNX tensor type, nullability."""
    return [{"name": f.name, "type": FLOAT if f.is_numeric else STRING, "nullable": f.nullable} for f in features]


def _session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # One thread per request: Lambda gives a function ~1 vCPU per 1769 MB, threads only add overhead.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


class OnnxModel:
    """A loaded ONNX model with its signature; `predict` takes validated column arrays."""

    def __init__(self, model: bytes, signature: list[dict[str, Any]], classes: list[str] | None) -> None:
        self.session = _session(model)
        self.signature = signature
        self.classes = classes
        self._outputs = [o.name for o in self.session.get_outputs()]

    def predict(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model; returns `label` (and `probabilities` for classifiers)."""
        results = dict(zip(self._outputs, self.session.run(None, columns), strict=True))
        if self.classes is None:
            return {"label": np.asarray(results["variable"]).ravel()}
        return {"label": np.asarray(results["label"]).ravel(), "probabilities": np.asarray(results["probabilities"])}


def columns_from_table(rows: dict[str, list[Any]], signature: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Model inputs from already-validated columns (training data, holdout): shape (n, 1) per feature."""
    columns: dict[str, np.ndarray] = {}
    for field in signature:
        values = rows[field["name"]]
        if field["type"] == FLOAT:
            columns[field["name"]] = np.array([np.nan if v is None else v for v in values], dtype=np.float32).reshape(
                -1, 1
            )
        else:
            columns[field["name"]] = np.array(["" if v is None else str(v) for v in values], dtype=object).reshape(
                -1, 1
            )
    return columns


def _bad(row: int, name: str, message: str) -> BadRequestError:
    return BadRequestError(f"instances[{row}].{name}: {message}", field=f"instances[{row}].{name}")


def _number(value: Any, row: int, field: dict[str, Any]) -> float:
    name = field["name"]
    if value is None:
        if field["nullable"]:
            return math.nan
        raise _bad(row, name, "is required and may not be null")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(row, name, f"expected a number, got {type(value).__name__}")
    try:
        number = float(value)  # a huge JSON integer overflows here
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _bad(row, name, "must be a finite number")
    if abs(number) > FLOAT32_MAX:
        raise _bad(row, name, f"must be within ±{FLOAT32_MAX:.3g} (the model computes in float32)")
    return number


def _category(value: Any, row: int, field: dict[str, Any]) -> str:
    name = field["name"]
    if value is None:
        if field["nullable"]:
            return ""
        raise _bad(row, name, "is required and may not be null")
    if not isinstance(value, str):
        raise _bad(row, name, f"expected a string, got {type(value).__name__}")
    return value


def validate_instances(instances: Any, signature: list[dict[str, Any]], max_rows: int) -> dict[str, np.ndarray]:
    """Turn a request's `instances` into model inputs, or raise naming the offending row and field.

    Raises
    ------
    BadRequestError
        For a batch that is not a non-empty list of objects, a missing, unknown or mistyped feature.
    PayloadTooLargeError
        For more rows than `max_rows`.
    """
    if not isinstance(instances, list):
        raise BadRequestError("instances: expected a list of objects", field="instances")
    if not instances:
        raise BadRequestError("instances: the batch is empty", field="instances")
    if len(instances) > max_rows:
        raise PayloadTooLargeError(
            f"instances: {len(instances)} rows exceed the limit of {max_rows}", field="instances"
        )
    names = {field["name"] for field in signature}
    values: dict[str, list[Any]] = {field["name"]: [] for field in signature}
    for row, record in enumerate(instances):
        if not isinstance(record, dict):
            raise BadRequestError(f"instances[{row}]: expected an object", field=f"instances[{row}]")
        unknown = sorted(set(record) - names)
        if unknown:
            raise _bad(row, unknown[0], "is not a feature of this model")
        for field in signature:
            name = field["name"]
            if name not in record:
                raise _bad(row, name, "is missing")
            convert = _number if field["type"] == FLOAT else _category
            values[name].append(convert(record[name], row, field))
    return {
        field["name"]: np.array(values[field["name"]], dtype=np.float32 if field["type"] == FLOAT else object).reshape(
            -1, 1
        )
        for field in signature
    }
