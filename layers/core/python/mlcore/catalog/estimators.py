"""The estimator kinds a spec may name: the task each fits, its implementation, how its inputs are prepared."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EstimatorKind:
    """One `estimator.kind` of a spec."""

    kind: str
    task: str  # "classification" or "regression"
    implementation: str  # "module:Class", imported by the training job only
    # Trees need no scaling, and a float32 scaler in ONNX would move values across split thresholds.
    scaled: bool


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
    )
}
