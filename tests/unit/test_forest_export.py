"""Training: a two-class forest is exported as a one-target tree ensemble that answers exactly what onnxruntime's
classifier answers (labels, their type, probabilities), and every other ensemble is left as skl2onnx wrote it."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from mlcore.serving import OnnxModel
from mlcore.training import export, table_columns

# Two stumps on x: tree 0 splits at 0.5, tree 1 at 1.5. Their leaves' weights sum, for x = 0, 1, 2, to
# 0.25 + 0.25 = 0.5 (a tie: the first class), 0.255 + 0.25 = 0.505 (just above: the second) and
# 0.255 + 0.235 = 0.49 (just below).
STUMPS = {
    "nodes_treeids": [0, 0, 0, 1, 1, 1],
    "nodes_nodeids": [0, 1, 2, 0, 1, 2],
    "nodes_featureids": [0, 0, 0, 0, 0, 0],
    "nodes_values": [0.5, 0.0, 0.0, 1.5, 0.0, 0.0],
    "nodes_modes": ["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"],
    "nodes_truenodeids": [1, 0, 0, 1, 0, 0],
    "nodes_falsenodeids": [2, 0, 0, 2, 0, 0],
    "nodes_missing_value_tracks_true": [0] * 6,
    "class_treeids": [0, 0, 1, 1],
    "class_nodeids": [1, 2, 1, 2],
    "class_ids": [0, 0, 0, 0],
    "class_weights": [0.25, 0.255, 0.25, 0.235],
}
X = np.array([[0.0], [1.0], [2.0], [-7.0], [9.0]], dtype=np.float32)


def classifier(labels: list[Any], **changes: Any) -> onnx.ModelProto:
    """A graph of one TreeEnsembleClassifier over STUMPS, with `changes` to its attributes."""
    strings = isinstance(labels[0], str)
    attributes = {**STUMPS, **({"classlabels_strings": labels} if strings else {"classlabels_int64s": labels})}
    attributes.update(changes)
    node = helper.make_node(
        "TreeEnsembleClassifier", ["x"], ["label", "probabilities"], domain="ai.onnx.ml", name="forest", **attributes
    )
    graph = helper.make_graph(
        [node],
        "stumps",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [
            helper.make_tensor_value_info("label", TensorProto.STRING if strings else TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(labels)]),
        ],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def run(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The model's label and probabilities, in the session the predict function serves with."""
    return list(OnnxModel(model.SerializeToString(), [], None).session.run(["label", "probabilities"], inputs))


def rewritten(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    export.single_score_forests(copy)
    return copy


def op_types(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]


@pytest.mark.parametrize("labels", [["no", "yes"], [0, 1], [3, -2]])
def test_a_binary_forest_answers_as_the_classifier_a_tie_the_first_class(labels: list[Any]) -> None:
    original = classifier(labels)
    served = rewritten(original)
    assert "TreeEnsembleClassifier" not in op_types(served)
    assert "TreeEnsembleRegressor" in op_types(served)
    label, probabilities = run(served, {"x": X})
    expected_label, expected_probabilities = run(original, {"x": X})
    first, second = labels
    # the tie at exactly 0.5 is the first class; 0.505 the second; 0.49 the first (x = 9 too)
    assert label.tolist() == [first, second, first, first, first] == expected_label.tolist()
    assert label.dtype == expected_label.dtype and label.shape == (5,)
    assert probabilities.dtype == np.float32 and probabilities.shape == (5, 2)
    np.testing.assert_array_equal(probabilities, expected_probabilities)
    np.testing.assert_allclose(probabilities[:3, 1], [0.5, 0.505, 0.49], rtol=1e-6)


@pytest.mark.parametrize(
    "labels, changes",
    [
        (["a", "b", "c"], {}),  # three classes: a probability per class
        (["no", "yes"], {"post_transform": "LOGISTIC"}),  # boosting's sigmoid of the sum
        (["no", "yes"], {"base_values": [0.0, 0.2]}),  # a base added to the sum
        # scores for both classes: each class's own sum
        (["no", "yes"], {"class_ids": [0, 0, 1, 1], "class_weights": [0.2, 0.3, 0.6, 0.1]}),
        # a negative weight: onnxruntime labels by the sum's sign (x = 2 sums to 0.155: "yes")
        (["no", "yes"], {"class_weights": [0.25, 0.255, 0.25, -0.1]}),
    ],
    ids=["three-classes", "logistic", "base-values", "two-class-ids", "negative-weight"],
)
def test_any_other_tree_ensemble_is_left_as_it_is(labels: list[Any], changes: dict[str, Any]) -> None:
    original = classifier(labels, **changes)
    served = rewritten(original)
    assert op_types(served) == ["TreeEnsembleClassifier"]
    for got, expected in zip(run(served, {"x": X}), run(original, {"x": X}), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_the_example_forest_is_served_as_one_score_with_the_classifiers_answers(
    trained_churn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = onnx.load_from_string(trained_churn.onnx)
    assert "TreeEnsembleRegressor" in op_types(served)
    assert "TreeEnsembleClassifier" not in op_types(served)
    monkeypatch.setattr(export, "single_score_forests", lambda model: None)
    original = onnx.load_from_string(export.export_onnx(trained_churn.pipeline, trained_churn.spec))
    assert "TreeEnsembleClassifier" in op_types(original)

    inputs = table_columns(trained_churn.holdout, trained_churn.spec)  # the model's input tensors
    (label, probabilities), (expected_label, expected_probabilities) = (run(m, inputs) for m in (served, original))
    assert label.tolist() == expected_label.tolist()
    assert set(label.tolist()) == {"no", "yes"}
    np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-6)
