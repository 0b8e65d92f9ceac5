"""Training: the ONNX export reproduces scikit-learn, and a model that does not is refused by name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlcore.errors import ConversionError, ParityError
from mlcore.serving import OnnxModel
from mlcore.serving.model import shortest
from mlcore.spec import parse_spec
from mlcore.training import check_parity, export_onnx, fit, table_columns


def onnx_model(trained: Any) -> OnnxModel:
    return OnnxModel(trained.onnx, trained.signature, trained.classes)


def test_example_model_exports_and_keeps_parity(trained_churn: Any) -> None:
    model = onnx_model(trained_churn)
    columns = table_columns(trained_churn.holdout, trained_churn.spec)
    difference = check_parity(trained_churn.pipeline, model, columns, trained_churn.spec)
    assert difference < 1e-3
    outputs = model.predict(columns)
    assert outputs["probabilities"].shape == (trained_churn.holdout.num_rows, 2)
    assert set(outputs["label"]) <= {"no", "yes"}
    assert trained_churn.classes == ["no", "yes"]
    assert trained_churn.metrics["roc_auc"] > 0.7  # the example's signal is learnable


def test_tampered_onnx_outputs_fail_parity_naming_the_estimator(
    trained_churn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an ONNX model whose probabilities drift from scikit-learn's
    original = OnnxModel.predict

    def perturbed(self: OnnxModel, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = original(self, columns)
        shift = np.where(np.arange(len(outputs["probabilities"])) % 2 == 0, 0.05, -0.05)
        return {**outputs, "probabilities": outputs["probabilities"] + shift[:, None]}

    monkeypatch.setattr(OnnxModel, "predict", perturbed)
    columns = table_columns(trained_churn.holdout, trained_churn.spec)
    # WHEN parity is checked THEN the model is refused, naming its estimator
    with pytest.raises(ParityError) as caught:
        check_parity(trained_churn.pipeline, onnx_model(trained_churn), columns, trained_churn.spec)
    assert "'random_forest_classifier' (RandomForestClassifier)" in caught.value.message
    assert "100.00% of holdout rows" in caught.value.message
    assert caught.value.code == "onnx_parity_failed"


def test_a_single_disagreeing_row_in_a_thousand_is_tolerated(
    trained_churn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = OnnxModel.predict

    def one_row_off(self: OnnxModel, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = original(self, columns)
        probabilities = outputs["probabilities"].copy()
        probabilities[0] += 0.2
        return {**outputs, "probabilities": probabilities}

    monkeypatch.setattr(OnnxModel, "predict", one_row_off)
    holdout = pa.concat_tables([trained_churn.holdout] * 6)  # 1200 rows: one bad row is < 0.1 %
    columns = table_columns(holdout, trained_churn.spec)
    assert check_parity(trained_churn.pipeline, onnx_model(trained_churn), columns, trained_churn.spec) >= 0.2


def test_regression_pipeline_exports_with_parity() -> None:
    rng = np.random.default_rng(0)
    rooms = rng.integers(1, 8, 400).astype(float)
    area = rng.normal(80, 25, 400)
    district = rng.choice(["a", "b", "c"], 400)
    price = 1000 * rooms + 30 * area + (district == "a") * 5000 + rng.normal(0, 500, 400)
    spec = parse_spec(
        {
            "name": "prices",
            "task": "regression",
            "target": "price",
            "features": [
                {"name": "rooms", "type": "integer"},
                {"name": "area", "type": "numeric"},
                {"name": "district", "type": "categorical"},
            ],
            "estimator": {"kind": "ridge"},
            "metrics": {"primary": "rmse"},
        }
    )
    table = pa.table({"rooms": rooms, "area": area, "district": district, "price": price})
    pipeline, classes = fit(spec, table)
    assert classes is None
    model = OnnxModel(export_onnx(pipeline, spec), [], None)
    assert check_parity(pipeline, model, table_columns(table, spec), spec) < 1.0
    # the predictions read as the model's float32 numbers, without float32's rounding noise (175.53995, not
    # 175.53994750976562): each is the shortest decimal of its float32, as numpy shows it
    predictions = model.predict(table_columns(table, spec))["label"]
    single = predictions.astype(np.float32)
    assert [repr(p) for p in predictions.tolist()] == [str(s) for s in single]
    assert any(len(repr(float(s))) > len(str(s)) for s in single)  # the float32's own float64 has more digits


def test_a_regressors_non_finite_outputs_stay_as_they_are() -> None:
    values = np.array([175.53995, np.nan, np.inf, -np.inf, 1e-40], dtype=np.float32)
    shown = shortest(values)
    assert shown.dtype == np.float64
    assert repr(shown[0]) == "np.float64(175.53995)"
    assert np.isnan(shown[1]) and shown[2] == np.inf and shown[3] == -np.inf
    assert shown[4].astype(np.float32) == values[4]


def test_conversion_failure_names_the_estimator(trained_churn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import skl2onnx

    def unsupported(*_: Any, **__: Any) -> None:
        raise RuntimeError("Unable to find a shape calculator")

    monkeypatch.setattr(skl2onnx, "convert_sklearn", unsupported)
    with pytest.raises(ConversionError, match="estimator 'random_forest_classifier' \\(RandomForestClassifier\\)"):
        export_onnx(trained_churn.pipeline, trained_churn.spec)


def test_a_threshold_labels_a_row_positive_at_it_and_negative_a_hair_above(trained_churn: Any) -> None:
    columns = table_columns(trained_churn.holdout.slice(0, 20), trained_churn.spec)
    score = float(onnx_model(trained_churn).predict(columns)["probabilities"][0, 1])
    at = OnnxModel(trained_churn.onnx, trained_churn.signature, trained_churn.classes, threshold=score)
    above = OnnxModel(
        trained_churn.onnx, trained_churn.signature, trained_churn.classes, threshold=float(np.nextafter(score, 1))
    )
    at_outputs = at.predict(columns)
    assert at_outputs["label"][0] == "yes"
    assert above.predict(columns)["label"][0] == "no"
    # the probabilities are the model's, whatever the threshold
    assert np.array_equal(at_outputs["probabilities"], onnx_model(trained_churn).predict(columns)["probabilities"])
    expected = np.where(at_outputs["probabilities"][:, 1] >= score, "yes", "no")
    assert at_outputs["label"].tolist() == expected.tolist()


def test_a_thresholded_model_with_numeric_labels_answers_numbers() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=300)
    spec = parse_spec(
        {
            "name": "flags",
            "task": "classification",
            "target": "flag",
            "features": [{"name": "x", "type": "numeric"}],
            "estimator": {"kind": "logistic_regression"},
            "metrics": {"primary": "f1"},
        }
    )
    table = pa.table({"x": x, "flag": (x + rng.normal(size=300) > 0).astype(np.int64)})
    pipeline, classes = fit(spec, table)
    model = OnnxModel(export_onnx(pipeline, spec), [], classes, threshold=0.9)
    labels = model.predict(table_columns(table, spec))["label"]
    assert labels.dtype == np.int64  # as without a threshold: a client comparing with 1 still matches
    assert set(labels.tolist()) == {0, 1}
