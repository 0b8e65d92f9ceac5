"""An example of a model's own training image: a small neural network (scikit-learn's MLP), trained and
exported by the image itself, under the platform's image contract (README, "Your own training image").

In: TRAIN_URI, HOLDOUT_URI (Parquet: the features and the target), SPEC_URI (the model's spec as JSON:
`features`, `target`, `task`, `estimator.params`), OUTPUT_URI (an S3 prefix ending in /).
Out, under OUTPUT_URI: model.onnx (one [None, 1] input per feature, named as it; outputs `label` and
`probabilities`, or `variable`), predictions.parquet (the model's own outputs on the holdout, row by
row: one probability column per class, named by the class, or `prediction`), metrics.json.

It depends on nothing of the platform: only on the contract. Exit non-zero on failure.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any
from urllib.parse import urlparse

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

s3 = boto3.client("s3")


def read(uri: str) -> bytes:
    location = urlparse(uri)
    return bytes(s3.get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"].read())


def write(prefix: str, name: str, body: bytes) -> None:
    location = urlparse(prefix + name)
    s3.put_object(Bucket=location.netloc, Key=location.path.lstrip("/"), Body=body)


def frame(table: pa.Table, spec: dict[str, Any]) -> pd.DataFrame:
    """The features as the model's inputs: numbers as float32 (as ONNX feeds them), categories as text."""
    columns = {}
    for feature in spec["features"]:
        values = table.column(feature["name"]).to_pandas()
        numeric = feature["type"] in ("numeric", "integer")
        columns[feature["name"]] = values.astype("float32") if numeric else values.astype(object).fillna("")
    return pd.DataFrame(columns)


def build(spec: dict[str, Any]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f["name"] for f in spec["features"] if f["type"] in ("numeric", "integer")]
    categorical = [f["name"] for f in spec["features"] if f["name"] not in numeric]
    params = {"hidden_layer_sizes": [16], "max_iter": 300, "random_state": 0, **spec["estimator"]["params"]}
    params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    network = MLPClassifier(**params) if spec["task"] == "classification" else MLPRegressor(**params)
    features = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )
    return Pipeline([("features", features), ("model", network)])


def export(model: Any, spec: dict[str, Any]) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        (f["name"], FloatTensorType([None, 1]) if f["type"] in ("numeric", "integer") else StringTensorType([None, 1]))
        for f in spec["features"]
    ]
    classifier = spec["task"] == "classification"
    options = {id(model.steps[-1][1]): {"zipmap": False}} if classifier else {}
    # a scikit-learn pipeline's outputs are the contract's: label and probabilities (zipmap off), or variable
    onnx = convert_sklearn(model, initial_types=inputs, options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    return bytes(onnx.SerializeToString())


def main() -> int:
    spec = json.loads(read(os.environ["SPEC_URI"]))
    train = pq.read_table(io.BytesIO(read(os.environ["TRAIN_URI"])))
    holdout = pq.read_table(io.BytesIO(read(os.environ["HOLDOUT_URI"])))
    target = spec["target"]
    model = build(spec).fit(frame(train, spec), np.asarray(train.column(target).to_pylist()))
    rows = frame(holdout, spec)
    truth = np.asarray(holdout.column(target).to_pylist())
    if spec["task"] == "classification":
        probabilities = model.predict_proba(rows)
        predictions = pa.table({str(c): probabilities[:, i] for i, c in enumerate(model.classes_)})
        metrics = {"accuracy": float(np.mean(model.predict(rows).astype(str) == truth.astype(str)))}
    else:
        predicted = model.predict(rows)
        predictions = pa.table({"prediction": predicted})
        metrics = {"rmse": float(np.sqrt(np.mean((predicted - truth.astype(float)) ** 2)))}
    sink = io.BytesIO()
    pq.write_table(predictions, sink)
    output = os.environ["OUTPUT_URI"]
    write(output, "model.onnx", export(model, spec))
    write(output, "predictions.parquet", sink.getvalue())
    write(output, "metrics.json", json.dumps(metrics).encode())
    print(json.dumps({"model": spec["name"], "metrics": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
