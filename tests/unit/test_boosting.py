"""LightGBM and XGBoost kinds: fitted in the platform's pipeline, exported to ONNX with parity, labels kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import yaml

from infra.local.example_data import EXAMPLE_SPEC, churn_table
from mlcore.data import enforce_contract, split_holdout
from mlcore.errors import ParityError, TrainingError
from mlcore.serving import OnnxModel, signature_of
from mlcore.spec import ModelSpec, parse_spec
from mlcore.training import boosting, check_parity, export_onnx, fit, frame, table_columns

# The parity the pipeline must keep without rounding luck: float32 in, float32 thresholds.
STRICT = 1e-5


def churn(kind: str, **estimator: Any) -> ModelSpec:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["estimator"] = {"kind": kind, **estimator}
    return parse_spec(raw)


def prices_spec(kind: str) -> ModelSpec:
    return parse_spec(
        {
            "name": "prices",
            "task": "regression",
            "target": "price",
            "features": [
                {"name": "rooms", "type": "integer", "nullable": True},
                {"name": "area", "type": "numeric", "nullable": True},
                {"name": "district", "type": "categorical"},
            ],
            "estimator": {"kind": kind, "params": {"n_estimators": 50}},
            "metrics": {"primary": "rmse"},
        }
    )


def prices_table(rows: int = 1500) -> pa.Table:
    rng = np.random.default_rng(3)
    rooms = rng.integers(1, 8, rows).astype(float)
    area = np.round(rng.normal(80, 25, rows), 1)
    district = rng.choice(["a", "b", "c"], rows)
    price = 1000 * rooms + 30 * area + (district == "a") * 5000 + rng.normal(0, 500, rows)
    rooms[::17] = np.nan  # missing values go where the trees learned to send them
    return pa.table({"rooms": rooms, "area": area, "district": district, "price": price})


def served(spec: ModelSpec, table: pa.Table) -> tuple[Any, OnnxModel, dict[str, np.ndarray]]:
    pipeline, classes = fit(spec, table)
    model = OnnxModel(export_onnx(pipeline, spec), signature_of(spec.features), classes)
    return pipeline, model, table_columns(table, spec)


@pytest.fixture(scope="module")
def churn_rows() -> tuple[pa.Table, pa.Table]:
    spec = churn("lightgbm_classifier")
    clean, _ = enforce_contract(churn_table(2000, seed=5), spec)
    return split_holdout(clean, spec)


@pytest.mark.parametrize("kind", ["lightgbm_classifier", "xgboost_classifier"])
def test_boosted_classifiers_serve_the_datas_labels_with_parity(
    kind: str, churn_rows: tuple[pa.Table, pa.Table]
) -> None:
    train, holdout = churn_rows
    spec = churn(kind)
    pipeline, classes = fit(spec, train)
    assert classes == ["no", "yes"]  # the data's labels, not XGBoost's 0..n-1
    model = OnnxModel(export_onnx(pipeline, spec), signature_of(spec.features), classes)
    columns = table_columns(holdout, spec)
    assert check_parity(pipeline, model, columns, spec) < STRICT
    outputs = model.predict(columns)
    assert set(outputs["label"].tolist()) == {"no", "yes"}
    assert outputs["label"].tolist() == pipeline.predict(holdout.to_pandas()[spec.feature_names]).tolist()


@pytest.mark.parametrize("kind", ["lightgbm_regressor", "xgboost_regressor"])
def test_boosted_regressors_keep_parity_with_missing_values(kind: str) -> None:
    spec = prices_spec(kind)
    table = prices_table()
    pipeline, model, columns = served(spec, table)
    assert check_parity(pipeline, model, columns, spec) < STRICT * 1e4  # prices are in the tens of thousands
    predicted = model.predict(columns)["label"]
    assert np.corrcoef(predicted, table.column("price").to_numpy())[0, 1] > 0.95


def test_tree_models_are_neither_imputed_nor_scaled() -> None:
    from mlcore.training import build_pipeline

    transformers = dict(
        (name, step) for name, step, _ in build_pipeline(prices_spec("lightgbm_regressor")).steps[0][1].transformers
    )
    assert transformers["numeric"] == "passthrough"


def test_xgboost_classifier_takes_three_labels_and_can_be_refitted() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=900)
    label = np.where(x < -0.5, "low", np.where(x > 0.5, "high", "mid"))
    model = boosting.XGBoostClassifier(n_estimators=20).fit(x.reshape(-1, 1), label)
    assert model.classes_.tolist() == ["high", "low", "mid"]
    assert set(model.predict(x.reshape(-1, 1)).tolist()) == {"high", "low", "mid"}
    model.fit(x.reshape(-1, 1), np.where(x < 0, "a", np.where(x > 1, "c", "b")))  # the same object, other labels
    assert model.classes_.tolist() == ["a", "b", "c"]


def adjacent_float32_rows() -> tuple[pa.Table, ModelSpec]:
    """Values on both sides of a LightGBM split between two adjacent float32 numbers."""
    low = np.float32(21.699998)
    high = np.nextafter(low, np.float32(np.inf))
    x = np.repeat(np.array([low, high], dtype=np.float32), 60).astype(np.float64)
    label = np.repeat(["no", "yes"], 60)
    spec = parse_spec(
        {
            "name": "edge",
            "task": "classification",
            "target": "label",
            "features": [{"name": "x", "type": "numeric"}],
            "estimator": {"kind": "lightgbm_classifier", "params": {"n_estimators": 5, "min_child_samples": 5}},
            "metrics": {"primary": "accuracy"},
        }
    )
    return pa.table({"x": x, "label": label}), spec


def test_a_split_between_adjacent_float32_values_is_kept_in_onnx() -> None:
    table, spec = adjacent_float32_rows()
    pipeline, model, columns = served(spec, table)
    assert check_parity(pipeline, model, columns, spec) < STRICT
    assert model.predict(columns)["label"].tolist() == table.column("label").to_pylist()


def test_without_float32_thresholds_that_split_breaks_parity(monkeypatch: pytest.MonkeyPatch) -> None:
    # the guard's own test: LightGBM's double threshold, rounded to nearest, sends one side the wrong way
    monkeypatch.setattr(boosting, "float32_splits", lambda model: None)
    table, spec = adjacent_float32_rows()
    pipeline, model, columns = served(spec, table)
    with pytest.raises(ParityError, match="'lightgbm_classifier' \\(LGBMClassifier\\)"):
        check_parity(pipeline, model, columns, spec)


def test_float32_thresholds_do_not_change_lightgbms_decisions(churn_rows: tuple[pa.Table, pa.Table]) -> None:
    train, holdout = churn_rows
    spec = churn("lightgbm_classifier")
    pipeline, _ = fit(spec, train)
    rows = frame(table_columns(holdout, spec), spec)  # float32 values, as served
    before = pipeline.predict_proba(rows)
    boosting.float32_splits(pipeline.steps[-1][1])
    assert np.array_equal(pipeline.predict_proba(rows), before)


def test_balanced_class_weights_flag_more_of_the_rare_class(churn_rows: tuple[pa.Table, pa.Table]) -> None:
    train, holdout = churn_rows
    rows = holdout.to_pandas()[churn("lightgbm_classifier").feature_names]
    plain, _ = fit(churn("lightgbm_classifier"), train)
    weighted, _ = fit(churn("lightgbm_classifier", class_weight="balanced"), train)
    by_label, _ = fit(churn("lightgbm_classifier", class_weight={"yes": 3.0}), train)
    assert np.mean(plain.predict(rows) == "yes") < np.mean(weighted.predict(rows) == "yes")
    assert np.mean(plain.predict(rows) == "yes") < np.mean(by_label.predict(rows) == "yes")


def test_a_class_weight_for_a_label_not_in_the_data_names_it(churn_rows: tuple[pa.Table, pa.Table]) -> None:
    with pytest.raises(TrainingError, match="class_weight names labels not in the training data: \\['maybe'\\]"):
        fit(churn("xgboost_classifier", class_weight={"maybe": 2.0}), churn_rows[0])


def test_a_misspelt_parameter_is_named_with_its_spec_field_before_anything_is_fitted() -> None:
    from mlcore.training import build_pipeline

    # a parameter of the spec, or of a search's trial, the estimator does not take
    with pytest.raises(TrainingError) as caught:
        build_pipeline(churn("random_forest_classifier", params={"n_estimator": 30}))
    assert caught.value.message == (
        "estimator.params.n_estimator: not a parameter of RandomForestClassifier; did you mean 'n_estimators'?"
    )
    with pytest.raises(TrainingError, match=r"^estimator\.search\.params\.max_dept: .* did you mean 'max_depth'\?$"):
        build_pipeline(churn("random_forest_classifier"), {"max_dept": 4})
    with pytest.raises(TrainingError, match=r"^estimator\.params\.zzz: not a parameter of .*; it takes \["):
        build_pipeline(churn("logistic_regression", params={"zzz": 1}))
    # LightGBM's scikit-learn estimator passes any keyword on to its core, which ignores an unknown one
    with pytest.raises(
        TrainingError, match=r"^estimator\.search\.params\.num_leavs: .*LGBMClassifier; did you mean 'num_leaves'\?$"
    ):
        build_pipeline(churn("lightgbm_classifier"), {"num_leavs": 15})
    # the parameters it takes pass: the estimator's names, and LightGBM's own for what the estimator does not set
    assert build_pipeline(churn("random_forest_classifier", params={"n_estimators": 30})) is not None
    for params in ({"min_child_samples": 5}, {"extra_trees": True}, {"feature_fraction_bynode": 0.8}, {"max_bin": 63}):
        assert build_pipeline(churn("lightgbm_classifier", params=params)) is not None
    # an alias of a parameter the estimator sets itself gives LightGBM two values of it (num_leaf=15 trained
    # 31-leaf trees, the estimator's default): refused, naming the estimator's name for it
    with pytest.raises(TrainingError) as caught:
        build_pipeline(churn("lightgbm_classifier", params={"num_leaf": 15}))
    assert caught.value.message == (
        "estimator.params.num_leaf: LightGBM's alias of num_leaves, which LGBMClassifier sets itself: two values of "
        "one parameter, of which LightGBM may take either; write num_leaves"
    )
    # and a misspelling close to such an alias is offered the estimator's name, not the alias refused next
    for misspelt, own in (("num_leafs", "num_leaves"), ("feature_fractions", "colsample_bytree")):
        with pytest.raises(TrainingError, match=rf"did you mean '{own}'\?$"):
            build_pipeline(churn("lightgbm_classifier", params={misspelt: 3}))
    for alias, own in (("min_data_in_leaf", "min_child_samples"), ("feature_fraction", "colsample_bytree")):
        with pytest.raises(TrainingError, match=rf"^estimator\.search\.params\.{alias}: .*; write {own}$"):
            build_pipeline(churn("lightgbm_classifier"), {alias: 0.5})
    # XGBoost lists no names: left to check its own
    assert build_pipeline(churn("xgboost_classifier", params={"max_depth": 3})) is not None
