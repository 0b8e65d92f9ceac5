"""The S3 key layout of every artifact kind: the one place a key is spelled.

datasets/<model>/<time>.<csv|csv.gz|parquet>           data bucket: what the pipeline trains on
datasets/<model>/<time>/<path>                          data bucket: a dataset of many files (hive partitions)
queries/<model>/<run>/unload/<file>                     data bucket: the Parquet a run's Athena query unloaded
queries/<model>/<run>/result/part-<n>.parquet           data bucket: the same files as Parquet: the run's dataset
athena-results/<query id>...                            data bucket: the datasets work group's query metadata
runs/<model>/<run>/<RunFile>                            artifacts bucket: one pipeline run
runs/<model>/<run>/image/out/<ImageFile>                artifacts bucket: what a model's own image wrote
runs/<model>/<run>/parts/<part>/<counts.json|...>       artifacts bucket: a part of a dataset checked in parts
monitoring/<model>/<check>/<CheckFile>                  artifacts bucket: one drift check
capture/model=<model>/dt=<day>/<time>-<id>.parquet      capture bucket: served traffic
feedback/model=<model>/dt=<day>/<time>-<id>.parquet     capture bucket: ground truth for it
code/<model>/<sha256>/<file>                            artifacts bucket: a model's training code (custom kind)
code/<model>/current.json                               artifacts bucket: the upload new runs train with
<output>predictions/batch_id=<batch>/part-<chunk>.parquet  data bucket: one batch's predictions (a Glue table)
<output>rejects/batch_id=<batch>/part-<chunk>.jsonl     data bucket: the rows it refused, with the reason
<output>manifests/<batch>.json                          data bucket: what a batch read, scored and refused
<output>_batch/<batch>/<plan.json|chunks.json|results/|failures/>  data bucket: a batch's work in progress
features/<view>/date=<day>/<ingest id>.parquet          data bucket: a feature view's offline store (a Glue table)
features/_ingests/<view>/<ingest id>.json               data bucket: an ingest's files, written once all are
features/_ingested/<view>/<rows' SHA-256>.json          data bucket: which ingest stored exactly these rows (after it)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import StrEnum

DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")  # the files a dataset or a batch's input is made of
CAPTURE = "capture"
FEEDBACK = "feedback"


class RunFile(StrEnum):
    """The files of one pipeline run, under `runs/<model>/<run>/`."""

    VALIDATION_JSON = "validation.json"
    VALIDATION_HTML = "validation.html"
    TRAIN = "train.parquet"
    HOLDOUT = "holdout.parquet"
    MODEL = "model.onnx"
    PROFILE = "profile.json"
    TRAINING_ROWS = "training_rows.u64"  # the training rows' hashes (mlcore.data.row_hashes), sorted, little-endian
    CANDIDATE = "candidate.json"
    FAILURE = "failure.json"  # what the training job failed with (the Batch job's own error)
    EVALUATION = "evaluation.json"  # the gate's verdict
    INPUTS = "inputs.json"  # what the validate step found: sources, fingerprint, split (ValidateResult)
    SEARCH = "search.json"  # a hyperparameter search's trials and the best of them
    IMAGE_SPEC = "image/spec.json"  # the model's spec, for its own training image
    IMAGE_OUTPUT = "image/out/"  # where its own training image writes (ImageFile)
    IMAGE_METRICS = "image_metrics.json"  # the platform's copy of what the image reported, once adopted
    PARTS_PLAN = "parts/plan.json"  # a dataset checked in parts: which files each part has
    PARTS_ITEMS = "parts/items.json"  # the Distributed Map's items: [{"part": "00000"}, ...]
    TRAIN_PARTS = "train/"  # the training rows of a dataset checked in parts: part-<part>.parquet
    HOLDOUT_PARTS = "holdout/"


class ImageFile(StrEnum):
    """What a model's own training image writes under OUTPUT_URI (the image contract, README)."""

    MODEL = "model.onnx"
    PREDICTIONS = "predictions.parquet"  # its model's outputs on the holdout, row by row: the parity check's
    METRICS = "metrics.json"  # its own view of its metrics, kept beside the platform's


class CheckFile(StrEnum):
    """The files of one drift check, under `monitoring/<model>/<check>/`."""

    JSON = "drift.json"
    HTML = "drift.html"


DATASETS = "datasets/"  # data bucket: every model's datasets (a drop here may start a retraining)


def dataset_prefix(model: str) -> str:
    return f"{DATASETS}{model}/"


def dataset_key(model: str, at: datetime, suffix: str) -> str:
    """Where an uploaded dataset goes: named by its upload time, so names sort by time."""
    return f"{dataset_prefix(model)}{at:%Y%m%dT%H%M%S%fZ}.{suffix.lstrip('.')}"


def dataset_folder(model: str, at: datetime) -> str:
    """Where an uploaded folder of data files goes (its files keep their paths under it)."""
    return f"{dataset_prefix(model)}{at:%Y%m%dT%H%M%S%fZ}/"


QUERIES = "queries/"  # data bucket: what the runs of models with data.source.athena_sql queried
QUERY_OBJECTS = f"{QUERIES}*"  # IAM object pattern
ATHENA_RESULTS = "athena-results/"  # data bucket: the datasets work group's own output (manifests, metadata)


def query_unload_prefix(model: str, run: str) -> str:
    """Where a run's Athena query writes its rows (UNLOAD wants an empty folder: the run's own)."""
    return f"{QUERIES}{model}/{run}/unload/"


def query_result_key(model: str, run: str, index: int) -> str:
    """The n-th file the query wrote (in the order of Athena's names), named as a Parquet file."""
    return f"{query_result_prefix(model, run)}part-{index:05d}.parquet"


def query_result_prefix(model: str, run: str) -> str:
    return f"{QUERIES}{model}/{run}/result/"


RUNS = "runs/"  # artifacts bucket: every pipeline run
# IAM object patterns (a `*` spans folders): every run's files, and the output folders of the runs' own images.
RUN_OBJECTS = f"{RUNS}*"
IMAGE_OUTPUT_OBJECTS = f"{RUNS}*/{RunFile.IMAGE_OUTPUT}*"
MODEL_OBJECTS = f"{RUNS}*/{RunFile.MODEL}"  # the models the registry serves (and the runs' candidates)


def run_prefix(model: str, run: str) -> str:
    return f"{RUNS}{model}/{run}/"


def run_key(model: str, run: str, file: RunFile) -> str:
    return run_prefix(model, run) + file


def snapshot_key(model: str, run: str, source_key: str) -> str:
    """The run's copy of the dataset it validated, keeping the source's format suffix."""
    suffix = ".csv.gz" if source_key.endswith(".csv.gz") else source_key[source_key.rfind(".") :]
    return run_prefix(model, run) + "dataset" + suffix


def part_key(model: str, run: str, part: str, file: str) -> str:
    """A file of one part of a dataset checked in parts: its counts, its value counts, its result or failure."""
    return f"{run_prefix(model, run)}parts/{part}/{file}"


def split_part_key(model: str, run: str, side: RunFile, part: str) -> str:
    """One part's rows of the training (TRAIN_PARTS) or holdout (HOLDOUT_PARTS) side of the split."""
    return f"{run_prefix(model, run)}{side}part-{part}.parquet"


def snapshot_folder_key(model: str, run: str, relative: str) -> str:
    """The run's copy of one file of a folder dataset, at its path inside the folder."""
    return f"{run_prefix(model, run)}dataset/{relative}"


def trials_prefix(model: str, run: str) -> str:
    return f"{run_prefix(model, run)}trials/"


def trial_key(model: str, run: str, trial: int) -> str:
    """What one trial of a run's hyperparameter search scored."""
    return f"{trials_prefix(model, run)}{trial:04d}.json"


def code_key(model: str, sha256: str, filename: str) -> str:
    """An upload of a model's training code, by its content."""
    return f"code/{model}/{sha256}/{filename}"


def current_code_key(model: str) -> str:
    """The pointer (an Artifact) to the code upload new runs of a model train with."""
    return f"code/{model}/current.json"


def batch_predictions_prefix(output: str) -> str:
    """The predictions of every batch written under an output prefix (the Glue table's location)."""
    return f"{output}predictions/"


def batch_predictions_key(output: str, batch_id: str, chunk: str) -> str:
    return f"{batch_output_prefixes(output, batch_id)[0]}part-{chunk}.parquet"


def batch_rejects_key(output: str, batch_id: str, chunk: str) -> str:
    return f"{batch_output_prefixes(output, batch_id)[1]}part-{chunk}.jsonl"


def batch_output_prefixes(output: str, batch_id: str) -> tuple[str, str]:
    """Where a batch's chunks write their predictions and their rejects: what a failed batch withdraws."""
    return f"{batch_predictions_prefix(output)}batch_id={batch_id}/", f"{output}rejects/batch_id={batch_id}/"


# The object keys of any batch's outputs (IAM patterns): the publish step may withdraw a failed batch's.
BATCH_OUTPUT_PATTERNS = ("*predictions/batch_id=*", "*rejects/batch_id=*")


def batch_manifest_key(output: str, batch_id: str) -> str:
    return f"{output}manifests/{batch_id}.json"


def batch_work_key(output: str, batch_id: str, name: str) -> str:
    """A file of a batch in progress: `plan.json`, `chunks.json`, `results/<chunk>.json`, `failures/<chunk>.json`."""
    return f"{output}_batch/{batch_id}/{name}"


RUNS_EXPORT = "exports/runs/"  # artifacts bucket: every run record, Parquet partitioned by model (Glue)


def check_key(model: str, check: str, file: CheckFile) -> str:
    return f"monitoring/{model}/{check}/{file}"


def model_partition(kind: str, model: str) -> str:
    """Where one model's captured traffic (`kind` CAPTURE) or feedback (FEEDBACK) is kept."""
    return f"{kind}/model={model}/"


def partition(kind: str, model: str, day: date) -> str:
    """The Hive-style partition of captured traffic (`kind` CAPTURE) or feedback (FEEDBACK) of one day."""
    return f"{model_partition(kind, model)}dt={day:%Y-%m-%d}/"


def partition_file(kind: str, model: str, day: date, written_at: datetime, unique: str) -> str:
    """A Parquet file of one day's partition: named by when it was written, made unique by `unique`."""
    return f"{partition(kind, model, day)}{written_at:%H%M%S%f}-{unique}.parquet"


FEATURES = "features/"  # data bucket: the feature views' offline stores


def feature_view_prefix(view: str) -> str:
    return f"{FEATURES}{view}/"


INGEST_TIME = "%Y%m%dT%H%M%S%fZ"


def ingest_id(at: datetime, unique: str) -> str:
    """An ingest's id: its time first, so a view's files sort by when they were ingested."""
    return f"{at:{INGEST_TIME}}-{unique}"


def ingest_time(ingest: str) -> datetime | None:
    """When an ingest started (UTC), from its id; None for an id not made by `ingest_id`."""
    try:
        return datetime.strptime(ingest.partition("-")[0], INGEST_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def feature_file_key(view: str, day: date, ingest: str) -> str:
    """The rows of one ingest whose event time falls on `day` (UTC)."""
    return f"{feature_view_prefix(view)}date={day:%Y-%m-%d}/{ingest}.parquet"


def ingest_markers_prefix(view: str) -> str:
    """Outside the view's table location, which readers of the Glue table list whole."""
    return f"{FEATURES}_ingests/{view}/"


def ingest_marker_key(view: str, ingest: str) -> str:
    """Written last by an ingest: only a complete ingest is ever read."""
    return f"{ingest_markers_prefix(view)}{ingest}.json"


def ingested_rows_key(view: str, digest: str) -> str:
    """Which ingest stored exactly these rows (by their digest): the same rows ingested again are not stored twice."""
    return f"{FEATURES}_ingested/{view}/{digest}.json"


def feature_table(view: str) -> str:
    """A view's offline store in the Glue catalog (Glue names take no hyphen)."""
    return view.replace("-", "_")


def online_key(view: str, entities: Sequence[str]) -> str:
    """An entity's item in the online store: the view, and its entity key values as text."""
    return f"{view}#{json.dumps(list(entities), separators=(',', ':'))}"


AUDIT = "audit/"  # audit bucket (Object Lock): the audit table's records as JSON lines, per subject and day
AUDIT_TABLE_SUFFIX = "-audit"  # the audit table is named after the registry table it audits


def audit_table_name(registry_table: str) -> str:
    """The audit table of a registry table: append-only, beside it (one name, derived in one place)."""
    return f"{registry_table}{AUDIT_TABLE_SUFFIX}"


def audit_subject_prefix(subject: str) -> str:
    """A subject's exported audit records: `audit/models/<name>/` (or `views/`)."""
    return f"{AUDIT}{subject}/"


def audit_export_key(subject: str, day: date, first_record: str) -> str:
    """One stream batch's records of a subject and day, named by the id of the batch's first audit record (a
    retried batch writes the same key: a new version of the same lines)."""
    return f"{audit_subject_prefix(subject)}{day:%Y/%m/%d}/{first_record}.jsonl"
