"""The validate step of the training pipeline: the data contract, a snapshot and the train/holdout split."""

from __future__ import annotations

import json

from mlcore.catalog import RunFile, ValidateRequest, ValidateResult, run_key, snapshot_key
from mlcore.data.contract import check_contract
from mlcore.data.datasets import latest_dataset_key, read_table, split_holdout, to_parquet
from mlcore.data.report import render_contract_html
from mlcore.errors import DataValidationError
from mlcore.registry import Registry
from mlcore.storage import ObjectStore, S3Uri


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
        key = latest_dataset_key(name, data)
    raw = data.get(key)
    snapshot = artifacts.put(snapshot_key(name, run_id, key), raw)
    clean, report = check_contract(read_table(raw, key, spec), spec)
    report_doc = {
        "model_name": name,
        "run_id": run_id,
        "dataset": snapshot.model_dump(),
        **report.model_dump(mode="json"),
    }
    report_artifact = artifacts.put(
        run_key(name, run_id, RunFile.VALIDATION_JSON), json.dumps(report_doc, indent=2).encode(), "application/json"
    )
    html = render_contract_html(name, run_id, data.uri(key), report)
    artifacts.put(run_key(name, run_id, RunFile.VALIDATION_HTML), html.encode(), "text/html")
    if report.blocking:
        raise DataValidationError(f"dataset {key} breaks the contract of '{name}': {report.summary()}")
    train, holdout = split_holdout(clean, spec)
    return ValidateResult(
        model_name=name,
        run_id=run_id,
        reason=request.request.reason,
        dataset=snapshot,
        train=artifacts.put(run_key(name, run_id, RunFile.TRAIN), to_parquet(train)),
        holdout=artifacts.put(run_key(name, run_id, RunFile.HOLDOUT), to_parquet(holdout)),
        rows=clean.num_rows,
        warnings=[f"{w.check}({w.column}): {w.message}" for w in report.warnings],
        report=report_artifact,
    )
