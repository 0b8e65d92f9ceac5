"""The estimator kinds a spec may name: the task each fits, its implementation, how its inputs are prepared."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
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
    # The parameters it takes (its constructor's), so that registration refuses a misspelt one; None where the
    # training job checks them (LightGBM's come from its core, XGBoost lists none, the model's own code).
    params: frozenset[str] | None = None

    @property
    def estimator(self) -> str:
        """The class the implementation names (`RandomForestClassifier`)."""
        return self.implementation.rpartition(":")[2]


def unknown_parameter(given: Mapping[str, Iterable[str]], takes: Collection[str]) -> tuple[str, str] | None:
    """The first `(field, name)` of the names `given` by field (`estimator.params`) that is not among `takes`."""
    return next(((field, name) for field, names in given.items() for name in names if name not in takes), None)


def not_a_parameter(
    name: str,
    estimator: str,
    takes: Collection[str],
    listed: Collection[str] | None = None,
    instead: Mapping[str, str] | None = None,
) -> str:
    """Why a parameter a spec names is refused, with the one it is likely spelled for (else those `listed`); a
    likely one in `instead` is offered as the name it maps to (a LightGBM alias: its estimator's own name)."""
    import difflib

    close = [(instead or {}).get(found, found) for found in difflib.get_close_matches(name, sorted(takes), n=1)]
    hint = f"did you mean '{close[0]}'?" if close else f"it takes {sorted(takes if listed is None else listed)}"
    return f"not a parameter of {estimator}; {hint}"


CUSTOM = "custom"
IMAGE = "own_image"  # the model's own training image (`training.image`), which writes model.onnx itself
ANY_TASK = "any"
_LIGHTGBM = (("verbose", -1),)  # LightGBM logs every tree's "no further splits" otherwise
# scikit-learn's parameters (tests/unit/test_estimator_catalog.py checks them against the pinned scikit-learn)
_COMMON = {"max_depth", "max_features", "max_leaf_nodes", "min_impurity_decrease", "min_samples_leaf",
           "min_samples_split", "min_weight_fraction_leaf", "n_estimators", "random_state", "verbose", "warm_start",
           "ccp_alpha", "criterion"}  # fmt: skip
_FOREST = frozenset({*_COMMON, "bootstrap", "max_samples", "monotonic_cst", "n_jobs", "oob_score"})
_BOOSTING = frozenset({*_COMMON, "init", "learning_rate", "loss", "n_iter_no_change", "subsample", "tol",
                       "validation_fraction"})  # fmt: skip
_LOGISTIC = frozenset({"C", "class_weight", "dual", "fit_intercept", "intercept_scaling", "l1_ratio", "max_iter",
                       "n_jobs", "penalty", "random_state", "solver", "tol", "verbose", "warm_start"})  # fmt: skip
_LINEAR = frozenset({"copy_X", "fit_intercept", "n_jobs", "positive", "tol"})
_RIDGE = frozenset({"alpha", "copy_X", "fit_intercept", "max_iter", "positive", "random_state", "solver", "tol"})

ESTIMATORS: dict[str, EstimatorKind] = {
    e.kind: e
    for e in (
        EstimatorKind(
            "logistic_regression", "classification", "sklearn.linear_model:LogisticRegression", True, params=_LOGISTIC
        ),
        EstimatorKind(
            "random_forest_classifier",
            "classification",
            "sklearn.ensemble:RandomForestClassifier",
            False,
            params=_FOREST | {"class_weight"},
        ),
        EstimatorKind(
            "gradient_boosting_classifier",
            "classification",
            "sklearn.ensemble:GradientBoostingClassifier",
            False,
            params=_BOOSTING,
        ),
        EstimatorKind("linear_regression", "regression", "sklearn.linear_model:LinearRegression", True, params=_LINEAR),
        EstimatorKind("ridge", "regression", "sklearn.linear_model:Ridge", True, params=_RIDGE),
        EstimatorKind(
            "random_forest_regressor", "regression", "sklearn.ensemble:RandomForestRegressor", False, params=_FOREST
        ),
        EstimatorKind(
            "gradient_boosting_regressor",
            "regression",
            "sklearn.ensemble:GradientBoostingRegressor",
            False,
            params=_BOOSTING | {"alpha"},
        ),
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
