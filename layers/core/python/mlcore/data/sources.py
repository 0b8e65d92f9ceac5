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

from mlcore.data.windows import labelled_rows
from mlcore.registry import ModelVersion, Registry, RunRecord
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
    """The served rows a run adds to its dataset: the spec's features, its target and `captured_at` (a Table; None
    when none was labelled), and where their window starts."""

    rows: Any
    sha256: str
    since: datetime


def feedback_since(champion: ModelVersion, champion_run: RunRecord | None, dataset_sha256: str) -> datetime:
    """Where the window of served rows a run adds starts: where the champion's started, when it learned from the same
    dataset (so every retraining on it learns from all the labels gathered since, those the champion learned from
    too, and nothing labelled since is nothing new, not a run on less); else when the champion was trained (a new
    dataset holds the truth up to its time)."""
    sources = champion_run.datasets if champion_run is not None else []
    if any(source.source == "dataset" and source.sha256 == dataset_sha256 for source in sources):
        started = next((source.since for source in sources if source.source == "feedback" and source.since), None)
        if started is not None:
            return datetime.fromisoformat(started)
    return datetime.fromisoformat(champion.created_at)


def feedback_rows(
    spec: ModelSpec,
    champion: ModelVersion | None,
    capture: ObjectStore,
    now: datetime,
    *,
    dataset_sha256: str,
    registry: Registry,
) -> Feedback | None:
    """The labelled rows served in the feedback window (`feedback_since`), when the spec includes feedback and a
    champion serves (else None).

    Rows are joined to their labels on (`request_id`, `row_index`); the first label wins.
    """
    if not spec.retrain.include_feedback or champion is None:
        return None
    since = feedback_since(champion, registry.find_run(champion.run_id), dataset_sha256)
    table = labelled_rows(capture, spec, since, now)
    if table is None:
        return Feedback(rows=None, sha256=NO_FEEDBACK, since=since)
    identities = table.select(["request_id", "row_index", spec.target])
    return Feedback(rows=table.drop_columns(["request_id", "row_index"]), sha256=rows_digest(identities), since=since)


def training_fingerprint(dataset_sha256: str, feedback: Feedback | None) -> str:
    return data_fingerprint(dataset_sha256, feedback.sha256 if feedback else NO_FEEDBACK)


def learned_already(champion: ModelVersion | None, fingerprint: str) -> bool:
    """Whether the champion was trained on exactly this data (nothing new to learn)."""
    return champion is not None and bool(champion.data_fingerprint) and champion.data_fingerprint == fingerprint


def learned_before(
    versions: list[ModelVersion], fingerprint: str, champion: ModelVersion | None
) -> ModelVersion | None:
    """The newest version, other than the champion, that learned from exactly this data (None: none did): one
    rejected or rolled back from would only be trained, and with `approval: auto` promoted, again."""
    champion_version = champion.version if champion else None
    same = [v for v in versions if fingerprint and v.data_fingerprint == fingerprint and v.version != champion_version]
    return max(same, key=lambda v: v.version, default=None)


def nothing_new_from(version: ModelVersion) -> str:
    """Why a run on the data `version` learned from has nothing new to learn, in the words every caller uses."""
    return f"version {version.version} ({version.status}, not the champion) learned from exactly this data"
