"""What a training run would learn from: the newest dataset and the labelled served rows, and their fingerprint.

The request-retraining step and the validate step both ask "is there anything new to learn?" with
`training_fingerprint`, so a retraining that would see exactly the champion's data is skipped
before it starts, and a manual run on the same data is skipped by the pipeline (unless forced).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlcore.data.datasets import DatasetFiles, written_at
from mlcore.data.windows import labelled_rows
from mlcore.registry import ModelVersion
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

NO_FEEDBACK = "none"


def rows_digest(table: Any) -> str:
    """SHA-256 of the labelled rows' identities and labels (`request_id`, `row_index`, target), in order."""
    digest = hashlib.sha256()
    for request_id, row_index, label in sorted(zip(*(column.to_pylist() for column in table.columns[:3]), strict=True)):
        digest.update(f"{request_id}\x1f{row_index}\x1f{label}\x1e".encode())
    return digest.hexdigest()


def data_fingerprint(dataset_sha256: str, feedback_sha256: str = NO_FEEDBACK) -> str:
    """The training data's fingerprint: SHA-256 of the dataset's SHA-256 and the feedback rows' digest."""
    return hashlib.sha256(f"dataset:{dataset_sha256}\nfeedback:{feedback_sha256}".encode()).hexdigest()


@dataclass(frozen=True)
class Feedback:
    """The served rows a run adds to its dataset: the spec's features, its target and `captured_at` (a Table)."""

    rows: Any
    sha256: str


def feedback_rows(
    spec: ModelSpec,
    champion: ModelVersion | None,
    capture: ObjectStore,
    now: datetime,
    *,
    dataset: DatasetFiles,
    data: ObjectStore,
) -> Feedback | None:
    """The labelled rows served since the dataset was written, when the spec includes feedback and a champion
    serves (else None): each retraining on the same dataset learns from all of them, those an earlier version
    learned from too, and a new dataset (which holds the truth up to its time) starts them over.

    Rows are joined to their labels on (`request_id`, `row_index`); the first label wins.
    """
    if not spec.retrain.include_feedback or champion is None:
        return None
    table = labelled_rows(capture, spec, written_at(dataset, data), now)
    if table is None:
        return None
    identities = table.select(["request_id", "row_index", spec.target])
    return Feedback(rows=table.drop_columns(["request_id", "row_index"]), sha256=rows_digest(identities))


def training_fingerprint(dataset_sha256: str, feedback: Feedback | None) -> str:
    return data_fingerprint(dataset_sha256, feedback.sha256 if feedback else NO_FEEDBACK)


def learned_already(champion: ModelVersion | None, fingerprint: str) -> bool:
    """Whether the champion was trained on exactly this data (nothing new to learn)."""
    return champion is not None and bool(champion.data_fingerprint) and champion.data_fingerprint == fingerprint
