"""The validate step of the training pipeline: the data contract, a snapshot and the train/holdout split."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlcore.contract import check_contract, read_table
from mlcore.errors import DataValidationError, NotFoundError
from mlcore.messages import ValidateRequest, ValidateResult
from mlcore.pipeline import dataset_prefix, run_prefix
from mlcore.registry import Registry
from mlcore.report import render_contract_html
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore, S3Uri


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def read_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def _latest_dataset_key(model_name: str, data: ObjectStore) -> str:
    keys = sorted(data.list_keys(dataset_prefix(model_name)))
    if not keys:
        raise NotFoundError(f"no dataset under s3://{data.bucket}/{dataset_prefix(model_name)}; upload one first")
    return keys[-1]


def split_holdout(table: pa.Table, spec: ModelSpec) -> tuple[pa.Table, pa.Table]:
    """Deterministic train/holdout split by the spec's seed and fraction."""
    order = np.random.default_rng(spec.data.seed).permutation(table.num_rows)
    cut = round(table.num_rows * spec.data.holdout_fraction)
    return table.take(np.sort(order[cut:])), table.take(np.sort(order[:cut]))


def validate_dataset(
    request: ValidateRequest, *, registry: Registry, data: ObjectStore, artifacts: ObjectStore
) -> ValidateResult:
    """Check the dataset against the spec's contract, snapshot it and split train/holdout.

    Raises
    ------
    DataValidationError
        On a blocking contract failure; the report is written to the run's folder first and the
        registry is not touched.
    """
    name, run_id = request.request.model_name, request.run_id
    spec = registry.get_spec(name)
    if request.request.dataset_uri:
        location = S3Uri.parse(request.request.dataset_uri)
        if location.bucket != data.bucket:
            raise DataValidationError(f"dataset_uri must be in the data bucket {data.bucket}", field="dataset_uri")
        key = location.key
    else:
        key = _latest_dataset_key(name, data)
    raw = data.get(key)
    prefix = run_prefix(name, run_id)
    snapshot = artifacts.put(prefix + "dataset" + key[key.rfind(".") :], raw)
    clean, report = check_contract(read_table(raw, key), spec)
    report_doc = {
        "model_name": name,
        "run_id": run_id,
        "dataset": snapshot.model_dump(),
        **report.model_dump(mode="json"),
    }
    report_artifact = artifacts.put(
        prefix + "validation.json", json.dumps(report_doc, indent=2).encode(), "application/json"
    )
    html = render_contract_html(name, run_id, data.uri(key), report)
    artifacts.put(prefix + "validation.html", html.encode(), "text/html")
    if report.blocking:
        raise DataValidationError(f"dataset {key} breaks the contract of '{name}': {report.summary()}")
    train, holdout = split_holdout(clean, spec)
    return ValidateResult(
        model_name=name,
        run_id=run_id,
        reason=request.request.reason,
        dataset=snapshot,
        train=artifacts.put(prefix + "train.parquet", _parquet(train)),
        holdout=artifacts.put(prefix + "holdout.parquet", _parquet(holdout)),
        rows=clean.num_rows,
        warnings=[f"{w.check}({w.column}): {w.message}" for w in report.warnings],
        report=report_artifact,
    )
