"""A dataset of many files: a folder (hive partitions allowed) is one dataset: validated, copied, fingerprinted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from functional_helpers import csv_bytes

from mlcore.catalog import PipelineInput, RetrainingRequest, ValidateRequest, ValidateResult
from mlcore.data import (
    dataset_files,
    dataset_sha256,
    latest_dataset_key,
    read_parquet,
    to_parquet,
    validate_dataset,
)
from mlcore.errors import DataValidationError, NotFoundError
from mlcore.monitoring import request_retraining
from mlcore.registry import Registry
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

FOLDER = "datasets/churn/20250301T000000000000Z/"
REGIONS = ("north", "south", "east", "west")


def upload_partitioned(data: ObjectStore, table: pa.Table, folder: str = FOLDER) -> dict[str, int]:
    """The table as 20 files: 4 `region=` partitions (the column left out of the files) of 5 parts each,
    the last part of each partition a CSV; returns each file's row count."""
    written = {}
    for region in REGIONS:
        rows = table.filter(pc.equal(table.column("region"), region)).drop_columns(["region"])
        size = -(-rows.num_rows // 5)
        for part in range(5):
            chunk = rows.slice(part * size, size)
            name = f"region={region}/part-{part}." + ("csv" if part == 4 else "parquet")
            data.put(folder + name, csv_bytes(chunk) if part == 4 else to_parquet(chunk))
            written[name] = chunk.num_rows
    return written


def validate(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, run_id: str, uri: str | None = None
) -> ValidateResult:
    request = ValidateRequest(request=PipelineInput(model_name="churn", dataset_uri=uri), run_id=run_id)
    return validate_dataset(request, registry=registry, data=data, artifacts=artifacts, capture=artifacts)


@pytest.fixture
def registered(registry: Registry, churn_spec: ModelSpec) -> Registry:
    registry.put_spec(churn_spec, actor="test")
    return registry


def test_a_partitioned_folder_is_validated_as_one_dataset_with_its_partitions_as_columns(
    registered: Registry, data: ObjectStore, artifacts: ObjectStore, churn_dataset: pa.Table
) -> None:
    # GIVEN the churn data as 20 files in region= partitions, parquet and CSV
    written = upload_partitioned(data, churn_dataset)
    assert len(written) == 20
    # WHEN the newest dataset is validated
    assert latest_dataset_key("churn", data) == FOLDER
    result = validate(registered, data, artifacts, "run-1")
    # THEN every row of every file is there, its region taken from the folder it was in
    assert result.rows == churn_dataset.num_rows == sum(written.values())
    train = read_parquet(artifacts.get_verified(result.train))
    holdout = read_parquet(artifacts.get_verified(result.holdout))
    both = pa.concat_tables([train, holdout])
    counts = {r["values"]: r["counts"] for r in pc.value_counts(both.column("region")).to_pylist()}
    expected = {r["values"]: r["counts"] for r in pc.value_counts(churn_dataset.column("region")).to_pylist()}
    assert counts == expected
    assert both.schema.field("tenure_months").type == pa.float64()  # CSV and parquet parts agree
    # AND the run keeps a copy of every file at its path, fingerprinted as the source is
    copied = sorted(
        key.removeprefix("runs/churn/run-1/dataset/") for key in artifacts.list_keys("runs/churn/run-1/dataset/")
    )
    assert copied == sorted(written)
    assert result.dataset.uri == f"s3://{artifacts.bucket}/runs/churn/run-1/dataset/"
    assert result.dataset.sha256 == dataset_sha256(dataset_files(data, FOLDER), data)
    [source] = result.sources
    assert (source.uri, source.rows) == (f"s3://{data.bucket}/{FOLDER}", churn_dataset.num_rows)


def test_the_same_folder_again_is_nothing_new_and_one_changed_file_is(
    registered: Registry, data: ObjectStore, artifacts: ObjectStore, churn_dataset: pa.Table
) -> None:
    upload_partitioned(data, churn_dataset)
    first = dataset_sha256(dataset_files(data, FOLDER), data)
    assert dataset_sha256(dataset_files(data, FOLDER), data) == first
    data.put(FOLDER + "region=north/part-0.parquet", to_parquet(churn_dataset.slice(0, 10).drop_columns(["region"])))
    assert dataset_sha256(dataset_files(data, FOLDER), data) != first


def test_a_file_landing_in_a_folder_asks_for_a_run_on_the_whole_folder(
    registered: Registry, data: ObjectStore, capture: ObjectStore, churn_dataset: pa.Table, churn_spec: ModelSpec
) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name="training",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    raw["retrain"] = {"on_new_data": True, "debounce_minutes": 0}
    registered.put_spec(ModelSpec.model_validate(raw), actor="test")
    upload_partitioned(data, churn_dataset)
    request = RetrainingRequest(trigger="new_data", event_id="e-1", key=FOLDER + "region=west/part-4.csv")
    result = request_retraining(
        request, registry=registered, data=data, capture=capture, sfn=sfn, state_machine_arn=arn, now=datetime.now(UTC)
    )
    [decision] = result.decisions
    assert decision.started, decision.reason
    [execution] = sfn.list_executions(stateMachineArn=arn)["executions"]
    started: dict[str, Any] = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started["dataset_uri"] == f"s3://{data.bucket}/{FOLDER}"


def test_a_folder_without_data_files_is_not_found_naming_it(
    registered: Registry, data: ObjectStore, artifacts: ObjectStore
) -> None:
    data.put(FOLDER + "_SUCCESS", b"")
    with pytest.raises(NotFoundError, match=f"no .csv, .csv.gz or .parquet file under s3://{data.bucket}/{FOLDER}"):
        validate(registered, data, artifacts, "run-1", uri=f"s3://{data.bucket}/{FOLDER}")


def test_files_whose_columns_cannot_be_reconciled_are_refused(
    registered: Registry, data: ObjectStore, artifacts: ObjectStore, churn_dataset: pa.Table
) -> None:
    data.put(FOLDER + "a.parquet", to_parquet(churn_dataset.slice(0, 500)))
    odd = churn_dataset.slice(500, 500)
    odd = odd.set_column(odd.column_names.index("age"), "age", pa.array([[1]] * odd.num_rows))  # a list column
    data.put(FOLDER + "b.parquet", to_parquet(odd))
    with pytest.raises(DataValidationError, match="the dataset's files do not agree on their columns' types"):
        validate(registered, data, artifacts, "run-1")


def test_a_folder_that_breaks_its_contract_names_the_files_the_failing_rows_are_in(
    registered: Registry, data: ObjectStore, artifacts: ObjectStore, churn_dataset: pa.Table
) -> None:
    # GIVEN a folder of four files: two clean, one with 7 unknown plans, one without the age column
    data.put(FOLDER + "2025-01/a.parquet", to_parquet(churn_dataset.slice(0, 300)))
    plans = churn_dataset.slice(300, 300)
    odd = ["gold"] * 7 + plans.column("plan").to_pylist()[7:]
    data.put(
        FOLDER + "2025-02/b.csv", csv_bytes(plans.set_column(plans.column_names.index("plan"), "plan", pa.array(odd)))
    )
    data.put(FOLDER + "2025-03/c.parquet", to_parquet(churn_dataset.slice(600, 300).drop_columns(["age"])))
    data.put(FOLDER + "2025-04/d.parquet", to_parquet(churn_dataset.slice(900, 100)))
    # WHEN it is validated
    with pytest.raises(DataValidationError) as refused:
        validate(registered, data, artifacts, "run-1")
    # THEN each failure says which files its rows are in, and the clean files are not named
    message = str(refused.value)
    assert "categories(plan): 7 values outside ['basic', 'standard', 'premium'] (in 2025-02/b.csv: 7)" in message
    assert "not_null(age): 300 missing values in a non-nullable column (in 2025-03/c.parquet: no column age)" in message
    assert "a.parquet" not in message and "d.parquet" not in message
    assert "first at row" not in message  # a row of the files as one would point nowhere: the files are named
