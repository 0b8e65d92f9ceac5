"""What a model's own training image wrote under OUTPUT_URI, checked against the image contract.

`model.onnx` must take one `[None, 1]` input per feature, named as the feature (float for numeric
features, string for categorical ones), and give `label` and `probabilities` (classifiers) or
`variable` (regressors); `predictions.parquet` holds the image's own model's outputs on the
holdout, in its row order (classifiers: one probability column per class, named by the class, in
the order of `probabilities`; regressors: one column, `prediction`); `metrics.json` is an object
of numbers. Any other shape is an ImageContractError naming the file and what is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mlcore.catalog import ImageFile, RunFile, run_key
from mlcore.data import read_parquet
from mlcore.errors import ImageContractError, NotFoundError
from mlcore.serving import OnnxModel, signature_of
from mlcore.spec import ModelSpec, Task
from mlcore.storage import ObjectStore

ONNX_INPUT_TYPES = {"float": "tensor(float)", "string": "tensor(string)"}
CLASSIFIER_OUTPUTS, REGRESSOR_OUTPUTS = ("label", "probabilities"), ("variable",)


@dataclass(frozen=True)
class ImageOutput:
    """The contract's three files, read and checked."""

    onnx: bytes
    expected: np.ndarray  # the image's own outputs on the holdout: (rows, classes) or (rows, 1)
    classes: list[str] | None
    metrics: bytes  # metrics.json as the image wrote it (an object of numbers)

    def model(self, spec: ModelSpec) -> OnnxModel:
        """The ONNX model, checked to take the spec's features and give the outputs serving reads.

        Raises
        ------
        ImageContractError
            Naming what model.onnx gets wrong.
        """
        try:
            model = OnnxModel(self.onnx, signature_of(spec.features), self.classes)
        except Exception as exc:  # onnxruntime raises its own types for a file it cannot load
            raise ImageContractError(f"{ImageFile.MODEL} cannot be loaded by onnxruntime: {exc}") from exc
        inputs = {i.name: i.type for i in model.session.get_inputs()}
        wanted = {field.name: ONNX_INPUT_TYPES[field.type] for field in model.signature}
        if inputs != wanted:
            wrong = sorted(name for name in wanted if inputs.get(name) != wanted[name])
            extra = sorted(set(inputs) - set(wanted))
            raise ImageContractError(
                f"{ImageFile.MODEL}: inputs {wrong} must be [None, 1] tensors named as the features (float for "
                f"numeric, string for categorical)" + (f"; it also takes {extra}" if extra else "")
            )
        outputs = [o.name for o in model.session.get_outputs()]
        needed = CLASSIFIER_OUTPUTS if spec.task is Task.CLASSIFICATION else REGRESSOR_OUTPUTS
        if [name for name in needed if name not in outputs] or len(outputs) != len(needed):
            raise ImageContractError(f"{ImageFile.MODEL}: a {spec.task} gives outputs {list(needed)}, not {outputs}")
        return model


def _read(artifacts: ObjectStore, prefix: str, file: ImageFile) -> bytes:
    try:
        return artifacts.get(prefix + file)
    except NotFoundError:
        raise ImageContractError(f"the image wrote no {file} under {artifacts.uri(prefix)}") from None


def _expected(predictions: pa.Table, spec: ModelSpec, rows: int) -> tuple[np.ndarray, list[str] | None]:
    file = ImageFile.PREDICTIONS
    if predictions.num_rows != rows:
        raise ImageContractError(f"{file} has {predictions.num_rows} rows; the holdout has {rows}")
    if not all(pa.types.is_floating(t) or pa.types.is_integer(t) for t in predictions.schema.types):
        raise ImageContractError(f"{file}: every column must be numeric, got {predictions.schema}")
    if spec.task is Task.CLASSIFICATION:
        if predictions.num_columns < 2:
            raise ImageContractError(f"{file}: a classifier's file has one probability column per class")
        classes = predictions.column_names
    else:
        if predictions.column_names != ["prediction"]:
            raise ImageContractError(f"{file}: a regressor's file has one column, prediction")
        classes = None
    matrix = np.column_stack(
        [predictions.column(i).to_numpy(zero_copy_only=False) for i in range(predictions.num_columns)]
    )
    if np.isnan(matrix.astype(np.float64)).any():
        raise ImageContractError(f"{file} has missing values")
    return matrix.astype(np.float64), classes


def _metrics(raw: bytes) -> bytes:
    file = ImageFile.METRICS
    try:
        reported = json.loads(raw)
    except ValueError as exc:
        raise ImageContractError(f"{file} is not JSON: {exc}") from exc
    if not isinstance(reported, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in reported.values()
    ):
        raise ImageContractError(f'{file} must be an object of finite numbers, e.g. {{"auc": 0.91}}')
    return raw


def read_image_output(spec: ModelSpec, run_id: str, artifacts: ObjectStore, holdout_rows: int) -> ImageOutput:
    """The files the model's image wrote for this run, checked.

    Raises
    ------
    ImageContractError
        For a missing file, or one that is not what the contract says, naming it.
    """
    prefix = run_key(spec.name, run_id, RunFile.IMAGE_OUTPUT)
    try:
        predictions = read_parquet(_read(artifacts, prefix, ImageFile.PREDICTIONS))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImageContractError(f"{ImageFile.PREDICTIONS} is not a Parquet file: {exc}") from exc
    expected, classes = _expected(predictions, spec, holdout_rows)
    return ImageOutput(
        onnx=_read(artifacts, prefix, ImageFile.MODEL),
        expected=expected,
        classes=classes,
        metrics=_metrics(_read(artifacts, prefix, ImageFile.METRICS)),
    )
