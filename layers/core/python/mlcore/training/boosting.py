"""LightGBM and XGBoost in the platform's pipelines: ONNX converters from onnxmltools, labels kept as given.

Imported by the training job only, when a spec names one of these libraries' kinds.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np
from xgboost import XGBClassifier


class XGBoostClassifier(XGBClassifier):
    """XGBoost's classifier taking any labels, as scikit-learn's do: XGBoost itself wants 0..n-1.

    Its `classes_` are the labels, so the ONNX converter writes them into the model and serving
    answers with labels, not indices.
    """

    def fit(self, X: Any, y: Any, **kwargs: Any) -> XGBoostClassifier:  # scikit-learn's names
        labels, encoded = np.unique(np.asarray(y), return_inverse=True)
        self.__dict__.pop("labels_", None)  # XGBoost's fit checks `classes_` against 0..n-1
        super().fit(X, encoded, **kwargs)
        self.labels_ = labels
        return self

    @property
    def classes_(self) -> np.ndarray:
        labels = self.__dict__.get("labels_")
        return super().classes_ if labels is None else labels

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        return np.asarray(self.labels_)[np.asarray(super().predict(X, **kwargs), dtype=np.int64)]


def _floor_to_float32(values: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each value: for every float32 x, x <= t exactly when x <= floor(t)."""
    nearest = values.astype(np.float32)
    above = nearest.astype(np.float64) > values
    return np.where(above, np.nextafter(nearest, np.float32(-np.inf)), nearest).astype(np.float64)


def float32_splits(model: Any) -> None:
    """Move a fitted LightGBM model's split thresholds to float32 values, leaving its decisions unchanged.

    LightGBM splits on doubles, ONNX on float32: a threshold between two adjacent float32 values
    would round onto one of them and send that value the other way. Rounded down, a threshold sends
    every float32 input (all the platform serves) where LightGBM did.
    """
    import lightgbm

    def floored(line: re.Match[str]) -> str:
        values = np.array(line.group(1).split(), dtype=np.float64)
        return "threshold=" + " ".join(repr(float(v)) for v in _floor_to_float32(values))

    text = re.sub(r"^threshold=(.*)$", floored, model.booster_.model_to_string(), flags=re.MULTILINE)
    # the byte sizes of the trees no longer hold: without them, LightGBM reads the trees one by one
    text = re.sub(r"^tree_sizes=.*\n", "", text, flags=re.MULTILINE)
    model._Booster = lightgbm.Booster(model_str=text)


def prepare_export(library: str, model: Any) -> None:
    """Make a fitted model of `library` ready for skl2onnx: its converters registered, and for
    LightGBM its split thresholds on float32 values."""
    register_converters(library)
    if library == "lightgbm":
        float32_splits(model)


@cache
def register_converters(library: str) -> None:
    """Teach skl2onnx the estimators of `library` ("lightgbm" or "xgboost"), once per process."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    if library == "lightgbm":
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options=classifier_options,
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            options={"split": None},
        )
    elif library == "xgboost":
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBRegressor

        update_registered_converter(
            XGBoostClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=classifier_options,
        )
        update_registered_converter(
            XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost
        )
    else:
        raise ValueError(f"no ONNX converters known for library '{library}'")
