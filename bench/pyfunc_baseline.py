"""Baseline (c) of bench/serving.py: what an MLflow pyfunc server does per request, as a Lambda handler.

JSON body -> pandas DataFrame (`instances` records or `dataframe_split`) -> the scikit-learn pipeline's
`predict_proba` -> JSON response. MLflow's schema enforcement is left out, which favours the baseline.
Kept in its own module so the cold-start subprocess imports only what such a handler imports.
"""

from __future__ import annotations

import json
from typing import Any

import joblib
import pandas as pd


class PyfuncHandler:
    """A proxy-event handler around a fitted scikit-learn classification pipeline."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.classes = [str(c) for c in pipeline.classes_]

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        document = json.loads(event["body"])
        if "dataframe_split" in document:
            split = document["dataframe_split"]
            frame = pd.DataFrame(split["data"], columns=split["columns"], index=split.get("index"))
        else:
            frame = pd.DataFrame(document["instances"])
        probabilities = self.pipeline.predict_proba(frame)
        labels = [self.classes[i] for i in probabilities.argmax(axis=1)]
        body = {"predictions": labels, "probabilities": probabilities.tolist()}
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def load(path: str) -> PyfuncHandler:
    """The handler for a pipeline pickled with joblib (what `mlflow.sklearn` stores)."""
    return PyfuncHandler(joblib.load(path))
