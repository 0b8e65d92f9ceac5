"""Sampled capture of served traffic to S3 (JSON Lines), and reading a time window of it back."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from mlcore.storage import ObjectStore

PREFIX = "capture"


def capture_key(model_name: str, at: datetime, request_id: str) -> str:
    """`capture/<model>/dt=<date>/<hhmmss.ffffff>-<request id>.jsonl`: listable by model and day."""
    return f"{PREFIX}/{model_name}/dt={at:%Y-%m-%d}/{at:%H%M%S.%f}-{request_id}.jsonl"


class CaptureWriter:
    """Writes a sampled share of requests, one object per request with a line per row."""

    def __init__(self, store: ObjectStore, rng: random.Random | None = None) -> None:
        self.store = store
        self.rng = rng or random.Random()

    def sampled(self, rate: float) -> bool:
        return rate >= 1.0 or self.rng.random() < rate

    def write(
        self,
        *,
        model_name: str,
        version: int,
        request_id: str,
        instances: list[dict[str, Any]],
        predictions: list[Any],
        latency_ms: float,
        at: datetime | None = None,
    ) -> str:
        at = at or datetime.now(UTC)
        lines = [
            json.dumps(
                {
                    "request_id": request_id,
                    "at": at.isoformat(),
                    "model_version": version,
                    "latency_ms": round(latency_ms, 3),
                    "row": row,
                    "features": record,
                    "prediction": prediction,
                },
                allow_nan=False,
            )
            for row, (record, prediction) in enumerate(zip(instances, predictions, strict=True))
        ]
        key = capture_key(model_name, at, request_id)
        self.store.put(key, ("\n".join(lines) + "\n").encode(), "application/x-ndjson")
        return key


def read_window(
    store: ObjectStore, model_name: str, feature_names: list[str], *, hours: int, now: datetime | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, list[int]]:
    """Captured rows of the last `hours`: feature columns, predictions and the serving versions."""
    now = now or datetime.now(UTC)
    start = now - timedelta(hours=hours)
    days = {(start + timedelta(days=d)).date() for d in range((now.date() - start.date()).days + 1)}
    columns: dict[str, list[Any]] = {name: [] for name in feature_names}
    predictions: list[Any] = []
    versions: list[int] = []
    for day in sorted(days):
        for key in store.list_keys(f"{PREFIX}/{model_name}/dt={day:%Y-%m-%d}/"):
            for line in store.get(key).decode().splitlines():
                record = json.loads(line)
                if not start <= datetime.fromisoformat(record["at"]) <= now:
                    continue
                for name in feature_names:
                    columns[name].append(record["features"].get(name))
                predictions.append(record["prediction"])
                versions.append(record["model_version"])
    return (
        {name: np.asarray(values, dtype=object) for name, values in columns.items()},
        np.asarray(predictions),
        versions,
    )
