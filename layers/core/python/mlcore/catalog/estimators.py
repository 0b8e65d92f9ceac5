"""The estimator kinds a spec may name: the task each fits, its implementation, how its inputs are prepared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EstimatorKind:
    """One `estimator.kind` of a spec."""

    kind: str
    task: str  # "classification", "regression" or ANY_TASK
    implementation: str  # "module:Class", imported by the training job only
    # Trees need no scaling, and a float32 scaler in ONNX would move values across split thresholds.
    scaled: bool
    # The library outside scikit-learn whose ONNX converters skl2onnx needs registered (onnxmltools').
    library: str | None = None
    defaults: tuple[tuple[str, Any], ...] = ()  # parameters the spec may override


CUSTOM = "custom"
IMAGE = "own_image"  # the model's own training image (`training.image`), which writes model.onnx itself
ANY_TASK = "any"
_LIGHTGBM = (("verbose", -1),)  # LightGBM logs every tree's "no further splits" otherwise

ESTIMATORS: dict[str, EstimatorKind] = {
    e.kind: e
    for e in (
        EstimatorKind("logistic_regression", "classification", "sklearn.linear_model:LogisticRegression", True),
        EstimatorKind("random_forest_classifier", "classification", "sklearn.ensemble:RandomForestClassifier", False),
        EstimatorKind(
            "gradient_boosting_classifier", "classification", "sklearn.ensemble:GradientBoostingClassifier", False
        ),
        EstimatorKind("linear_regression", "regression", "sklearn.linear_model:LinearRegression", True),
        EstimatorKind("ridge", "regression", "sklearn.linear_model:Ridge", True),
        EstimatorKind("random_forest_regressor", "regression", "sklearn.ensemble:RandomForestRegressor", False),
        EstimatorKind("gradient_boosting_regressor", "regression", "sklearn.ensemble:GradientBoostingRegressor", False),
        # Gradient-boosting libraries: installed in the training image only.
        EstimatorKind("lightgbm_classifier", "classification", "lightgbm:LGBMClassifier", False, "lightgbm", _LIGHTGBM),
        EstimatorKind("lightgbm_regressor", "regression", "lightgbm:LGBMRegressor", False, "lightgbm", _LIGHTGBM),
        EstimatorKind(
            "xgboost_classifier", "classification", "mlcore.training.boosting:XGBoostClassifier", False, "xgboost"
        ),
        EstimatorKind("xgboost_regressor", "regression", "xgboost:XGBRegressor", False, "xgboost"),
        # The model's own code: `estimator.entrypoint` names its builder (mlcore/training/custom.py).
        EstimatorKind(CUSTOM, ANY_TASK, "", False),
        # The model's own image: `training.image` runs it, the training job then checks and scores its model.
        EstimatorKind(IMAGE, ANY_TASK, "", False),
    )
}
