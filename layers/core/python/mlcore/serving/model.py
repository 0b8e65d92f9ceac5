"""ONNX serving: a verified model in an onnxruntime session, with the signature it validates requests by.

Imports only numpy and onnxruntime, so it fits the predict function's layer and starts fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
import orjson

from mlcore.catalog import SignatureField, ViewBinding
from mlcore.serving.inputs import FLOAT, STRING, InputValidator

if TYPE_CHECKING:
    from mlcore.registry import ModelVersion
    from mlcore.spec import Feature, ModelSpec
    from mlcore.storage import ObjectStore


def features_of(signature: list[SignatureField]) -> list[Feature]:
    """A served version's inputs as the spec's features that would give its signature (`signature_of`'s inverse):
    what a batch reads and checks of the version, whatever the spec says now."""
    from mlcore.spec import Feature, FeatureType  # not at import: a refresh or a batch needs it, not a cold start

    return [
        Feature(
            name=f.name,
            type=FeatureType.CATEGORICAL
            if f.type != FLOAT
            else FeatureType.INTEGER
            if f.integer
            else FeatureType.NUMERIC,
            nullable=f.nullable,
            categories=f.categories,
            allow_unseen=f.type != FLOAT and f.categories is None,
            min=f.minimum,
            max=f.maximum,
        )
        for f in signature
    ]


def version_spec(
    spec: ModelSpec, signature: list[SignatureField], views: Mapping[str, ViewBinding] | None = None
) -> ModelSpec:
    """The spec as a version reads it, the API's way: its own inputs, each as the spec declares it while that
    declaration gives the version's signature (its categories, which a CSV's `NA` may be), else as the signature has
    it; and the view features among them, from the views as the version was trained on them (`views`; None: a
    version from before they were kept, as the spec binds them). The spec may have added, dropped or retyped
    features, or bound its views otherwise, since."""
    declared = {feature.name: feature for feature in spec.features}
    features = [
        declared[field.name] if field.name in declared and signature_of([declared[field.name]]) == [field] else read
        for field, read in zip(signature, features_of(signature), strict=True)
    ]
    names = {field.name for field in signature}
    views = {
        view: binding.model_copy(update={"features": [name for name in binding.features if name in names]})
        for view, binding in (spec.views if views is None else views).items()
    }
    views = {view: binding for view, binding in views.items() if binding.features}
    return spec.model_copy(update={"features": features, "views": views})


def signature_of(features: list[Feature]) -> list[SignatureField]:
    """The input signature of a spec's features: name, ONNX tensor type, nullability, known categories."""
    return [
        SignatureField(
            name=f.name,
            type=FLOAT if f.is_numeric else STRING,
            nullable=f.nullable,
            categories=list(f.categories) if f.categories is not None and not f.allow_unseen else None,
            minimum=f.min,
            maximum=f.max,
            integer=f.is_integer,
        )
        for f in features
    ]


def _session(model: bytes, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # Serving: one thread per request (Lambda gives a function ~1 vCPU per 1769 MB, threads only add
    # overhead); a batch job scores large tables with every vCPU it has.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def shortest(values: np.ndarray) -> np.ndarray:
    """A model's float32 numbers as the float64s of their shortest decimals (175.53995, not 175.53994750976562,
    whose last digits are float32's rounding, not the model's); each reads back as the same float32. orjson writes
    the decimals (Ryu) faster than a Python float per value."""
    if values.dtype != np.float32:
        return values.astype(np.float64)
    text = orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY)
    numbers = np.array(orjson.loads(text), dtype=np.float64)
    odd = ~np.isfinite(values)  # written as null: NaN and the infinities stay themselves
    if odd.any():
        numbers[odd] = values[odd]
    return numbers


class OnnxModel:
    """A loaded ONNX model with its signature; `predict` takes validated column arrays."""

    def __init__(
        self,
        model: bytes,
        signature: list[SignatureField],
        classes: list[str] | None,
        threshold: float | None = None,
        threads: int = 1,
    ) -> None:
        self.session = _session(model, threads)
        self.signature = signature
        self.classes = classes
        # Binary classifiers: label a row with the second class when its probability is at least this.
        self.threshold = threshold
        self.validate = InputValidator(signature)
        self._outputs = [o.name for o in self.session.get_outputs()]

    def predict(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model; returns `label` (and `probabilities` for classifiers)."""
        results = dict(zip(self._outputs, self.session.run(None, columns), strict=True))
        if self.classes is None:
            return {"label": shortest(np.asarray(results["variable"]).ravel())}
        label = np.asarray(results["label"]).ravel()
        probabilities = np.asarray(results["probabilities"])
        if self.threshold is not None:
            # the model's own label type (a class of 0/1 labels answers numbers, as without a threshold)
            values = np.asarray(self.classes).astype(label.dtype)
            # compared in float64: a float threshold would otherwise be rounded to the float32 scores
            label = values[(probabilities[:, 1] >= np.float64(self.threshold)).astype(np.int64)]
        return {"label": label, "probabilities": probabilities}


def load_served_model(version: ModelVersion, artifacts: ObjectStore, threads: int = 1) -> OnnxModel:
    """An ONNX session of a registered version, after verifying the artifact's SHA-256."""
    model = artifacts.get_verified(version.artifacts["model"])
    return OnnxModel(model, version.signature, version.classes, version.threshold, threads)
