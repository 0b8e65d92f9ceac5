"""The scikit-learn pipeline a spec describes, fitted on a training table (scikit-learn imported on use)."""

from __future__ import annotations

import functools
import importlib
import math
import re
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from mlcore.catalog import CUSTOM, ESTIMATORS, CrossValidation, not_a_parameter, unknown_parameter
from mlcore.errors import TrainingError
from mlcore.serving import signature_of, tensors_from_columns
from mlcore.spec import ModelSpec, Task
from mlcore.training.evaluation import pick_threshold, score

Params = dict[str, Any]


def _estimator(spec: ModelSpec, overrides: Params | None = None) -> Any:
    """An unfitted estimator of the spec's kind with its parameters (and a trial's), seeded by `data.seed`."""
    kind = ESTIMATORS[spec.estimator.kind]
    params = {**dict(kind.defaults), **spec.estimator.params, **(overrides or {})}
    if kind.kind == CUSTOM:
        assert spec.estimator.entrypoint is not None  # the spec requires it
        return _custom_estimator(spec.estimator.entrypoint, params)
    module, name = kind.implementation.split(":")
    cls = getattr(importlib.import_module(module), name)
    known = cls().get_params()
    _check_names(cls, known, {"estimator.params": spec.estimator.params, "estimator.search.params": overrides or {}})
    if "random_state" in known:
        params.setdefault("random_state", spec.data.seed)
    return cls(**params)


@functools.cache
def _lightgbm_aliases() -> tuple[frozenset[str], ...] | None:
    """Every parameter LightGBM's core reads, as the set of its names (its own and its aliases; its scikit-learn
    estimators pass any keyword on to it, which ignores an unknown one with a warning); None where this LightGBM
    cannot list them."""
    try:
        from lightgbm.basic import _ConfigAliases  # a private helper over the C API's LGBM_DumpParamAliases

        aliases = _ConfigAliases._get_all_param_aliases()
    except (ImportError, AttributeError):  # a LightGBM without it: left to check its own
        return None
    return tuple(frozenset({main, *names}) for main, names in aliases.items())


def _check_names(cls: Any, known: Params, given: dict[str, Params]) -> None:
    """Each parameter the spec (or a trial) names is one the estimator takes: LightGBM's core parameters and
    their aliases too; XGBoost, which takes any keyword and lists none, is left to check its own.

    Raises
    ------
    TrainingError
        Naming the spec's field and the parameter, with the one it is likely spelled for.
    """
    import inspect

    takes = set(known)
    # a LightGBM alias of a parameter its estimator sets itself (`num_leaf` for `num_leaves`): that parameter. The
    # core gets two values of it, and which it takes differs by parameter (the estimator's default won for num_leaf)
    shadowed: dict[str, str] = {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(cls).parameters.values()):
        core = _lightgbm_aliases() if cls.__module__.startswith("lightgbm") else None
        if core is None:
            return
        for names in core:
            takes |= names
            own = sorted(names & set(known))
            shadowed.update({alias: own[0] for alias in names - set(known)} if own else {})
    unknown = unknown_parameter(given, takes)
    if unknown is not None:
        field, name = unknown
        raise TrainingError(f"{field}.{name}: {not_a_parameter(name, cls.__name__, takes, known, shadowed)}")
    alias = unknown_parameter(given, takes - shadowed.keys())
    if alias is not None:
        field, name = alias
        raise TrainingError(
            f"{field}.{name}: LightGBM's alias of {shadowed[name]}, which {cls.__name__} sets itself: two values of "
            f"one parameter, of which LightGBM may take either; write {shadowed[name]}"
        )


def _custom_estimator(entrypoint: str, params: Params) -> Any:
    """What the model's own builder returns for these parameters, checked to be an estimator.

    Raises
    ------
    TrainingError
        When the builder fails or returns something without `fit`, naming the entrypoint.
    """
    from mlcore.training.custom import entrypoint as resolve

    build = resolve(entrypoint)
    try:
        estimator = build(**params)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"estimator.entrypoint '{entrypoint}' failed with {params}: {exc}") from exc
    if not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")):
        raise TrainingError(
            f"estimator.entrypoint '{entrypoint}' returned a {type(estimator).__name__}, "
            "not a scikit-learn compatible estimator (fit, get_params)"
        )
    return estimator


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
    """A scikit-learn pipeline: impute (and for linear models scale) numeric features, one-hot encode categoricals."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f.name for f in spec.features if f.is_numeric]
    categorical = [f.name for f in spec.features if not f.is_numeric]
    transformers = []
    kind = ESTIMATORS[spec.estimator.kind]
    if numeric and kind.library is not None:
        # Boosting libraries route missing values themselves; a float64 median imputed here would be
        # rounded to float32 in ONNX and could land on the other side of a split.
        transformers.append(("numeric", "passthrough", numeric))
    elif numeric:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if kind.scaled:
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


def _fit(pipeline: Any, spec: ModelSpec, rows: Any, target: np.ndarray) -> Any:
    """Fit, weighing each row by its class when the spec asks (every estimator here takes sample weights)."""
    fitting: dict[str, Any] = {}
    if spec.estimator.class_weight is not None:
        from sklearn.utils.class_weight import compute_sample_weight

        labels = target.astype(str)
        weights = spec.estimator.class_weight
        if isinstance(weights, dict):
            unknown = sorted(set(weights) - set(labels.tolist()))
            if unknown:
                raise TrainingError(f"estimator.class_weight names labels not in the training data: {unknown}")
            weights = {label: weights.get(label, 1.0) for label in np.unique(labels).tolist()}
        fitting["model__sample_weight"] = compute_sample_weight(weights, labels)
    if not type(pipeline.named_steps["model"]).__module__.startswith("lightgbm"):
        return pipeline.fit(rows, target, **fitting)
    from lightgbm.basic import LightGBMError  # not a ValueError: its core's checks of the values

    try:
        return pipeline.fit(rows, target, **fitting)
    except LightGBMError as exc:
        raise _lightgbm_refusal(exc) from exc


def _lightgbm_refusal(error: Exception) -> TrainingError:
    """LightGBM's refusal of a value (`Check failed: (num_leaves) > (1) at /…/config_auto.cpp, line 352 .`) in the
    words of the spec: the parameter and what it must be, without LightGBM's source location."""
    text = str(error).strip()
    check = re.match(r"Check failed: \((\w+)\) (\S+) \((.*?)\) at ", text)
    if check:
        name, comparison, bound = check.groups()
        where = "estimator.params, or a search trial's"
        return TrainingError(f"{name}: LightGBM takes only a value {comparison} {bound} ({where})")
    where = re.sub(r" at /\S+, line \d+ \.?$", "", text)
    return TrainingError(f"LightGBM refused the estimator's parameters: {where}")


def fit(spec: ModelSpec, train: pa.Table, params: Params | None = None) -> tuple[Any, list[str] | None]:
    """Fit the spec's pipeline on the training table; returns it and the class labels (classifiers)."""
    pipeline = build_pipeline(spec, params)
    target = np.asarray(train.column(spec.target).to_pylist())
    if spec.task is Task.CLASSIFICATION:
        _two_classes_at_least(spec, target)
    _fit(pipeline, spec, frame(table_columns(train, spec), spec), target)
    return pipeline, _classes(pipeline, spec)


def _two_classes_at_least(spec: ModelSpec, target: np.ndarray) -> None:
    """A classifier learns from rows of two classes at least (scikit-learn's own error names none).

    Raises
    ------
    TrainingError
        Naming the one class the training rows have, and the spec's other classes.
    """
    labels = np.unique(target.astype(str))
    if labels.size >= 2:  # two classes: the least a classifier tells apart
        return
    only = f"labelled {str(labels[0])!r}" if labels.size else "unlabelled"
    others = [label for label in spec.classes or [] if label not in labels.tolist()]
    listed = f"; the spec's classes also list {others}, which no training row has" if others else ""
    raise TrainingError(
        f"target '{spec.target}': every training row ({target.size}) is {only}: a classifier learns from rows of two "
        f"classes at least{listed}"
    )


def _outputs(pipeline: Any, rows: Any, spec: ModelSpec) -> dict[str, np.ndarray]:
    """What the fitted pipeline says of `rows`, shaped like a served model's outputs."""
    if spec.task is Task.CLASSIFICATION:
        return {"label": pipeline.predict(rows).astype(str), "probabilities": pipeline.predict_proba(rows)}
    return {"label": pipeline.predict(rows)}


def _at_threshold(
    spec: ModelSpec, outputs: dict[str, np.ndarray], classes: list[str] | None, truth: np.ndarray
) -> dict[str, np.ndarray]:
    """A fold's outputs labelled at the threshold `metrics.threshold` picks on the fold's own rows, as the holdout's
    are at the one picked on the holdout (unchanged without one, or for other than two classes). A fold where no
    threshold reaches the precision asked for labels no row with the second class."""
    if spec.metrics.threshold is None or classes is None or len(classes) != 2:
        return outputs
    scores = outputs["probabilities"][:, 1]
    picked = pick_threshold(truth.astype(str) == classes[1], scores, spec.metrics.threshold)
    cut = np.inf if picked is None else picked
    return {**outputs, "label": np.where(scores >= cut, classes[1], classes[0])}


def fold_splitter(spec: ModelSpec, target: np.ndarray, folds: int) -> Any:
    """How cross-validation splits the training rows into `folds` folds.

    With `data.split: time` (the rows oldest first, as the split writes them) each fold is scored on rows newer
    than those it is fitted on, as the holdout is; otherwise folds are shuffled, and a classifier's keep each
    class's share when each class has a row per fold.
    """
    from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit

    if spec.data.split == "time":
        return TimeSeriesSplit(folds)
    if spec.task is Task.CLASSIFICATION and np.unique(target.astype(str), return_counts=True)[1].min() >= folds:
        return StratifiedKFold(folds, shuffle=True, random_state=spec.data.seed)
    return KFold(folds, shuffle=True, random_state=spec.data.seed)


def cross_validate(
    spec: ModelSpec, train: pa.Table, folds: int, params: Params | None = None
) -> dict[str, CrossValidation]:
    """Every metric's mean and standard deviation over the folds of the training table (see `fold_splitter`): a
    classifier's fold fitted on rows of one class (a time split's oldest rows may be) is left out, and counted out.

    Raises
    ------
    TrainingError
        When the training rows are of one class, there are no more rows than folds, or fewer than two folds are
        fitted on rows of two classes.
    """
    rows = frame(table_columns(train, spec), spec)
    target = np.asarray(train.column(spec.target).to_pylist())
    if spec.task is Task.CLASSIFICATION:
        _two_classes_at_least(spec, target)  # before the folds say it their own way
    if len(target) <= folds:
        raise TrainingError(f"cross-validation in {folds} folds needs more than {folds} training rows: {len(target)}")
    scores: defaultdict[str, list[float]] = defaultdict(list)
    for fit_rows, test_rows in fold_splitter(spec, target, folds).split(rows, target):
        if spec.task is Task.CLASSIFICATION and len(np.unique(target[fit_rows].astype(str))) < 2:
            continue  # it could tell no class from another
        pipeline = _fit(build_pipeline(spec, params), spec, rows.iloc[fit_rows], target[fit_rows])
        classes, truth = _classes(pipeline, spec), target[test_rows]
        outputs = _at_threshold(spec, _outputs(pipeline, rows.iloc[test_rows], spec), classes, truth)
        for metric, value in score(spec, truth, outputs, classes).items():
            scores[metric].append(value)
    scored = len(next(iter(scores.values()), []))
    if scored < 2:  # a mean and a standard deviation need two
        raise TrainingError(
            f"cross-validation: {folds - scored} of {folds} folds would fit on rows of one class (a time split's "
            "oldest rows may hold one); fewer folds fit on more rows"
        )
    return {
        metric: CrossValidation(folds=scored, mean=float(np.nanmean(values)), sd=float(np.nanstd(values, ddof=1)))
        for metric, values in scores.items()
    }
