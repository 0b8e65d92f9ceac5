"""A model's dataset as a Glue table (data.source.glue_table): its registered partitions are what a run reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import awswrangler as wr
import boto3
import pyarrow as pa
import pytest

from mlcore.catalog import PipelineInput, RetrainingRequest, ValidateRequest
from mlcore.data import DatasetTables, read_split, validate_dataset, validate_step
from mlcore.errors import DataValidationError, NotFoundError
from mlcore.monitoring import request_retraining
from mlcore.registry import Registry
from mlcore.spec import ModelSpec, parse_spec
from mlcore.storage import ObjectStore

# awswrangler's writer calls pandas in a way pandas 3.1 deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
DATABASE = "mlops_datasets"
TABLE = f"{DATABASE}.churn_labels"


def from_table(spec: ModelSpec, table: str = TABLE) -> ModelSpec:
    raw = spec.model_dump(mode="json", exclude_none=True)
    return parse_spec({**raw, "data": {**raw["data"], "source": {"glue_table": table}}})


def write_table(frame: Any, data: ObjectStore, folder: str = "datasets/churn/labels/", mode: str = "append") -> None:
    """Rows written as awswrangler writes a table: Parquet by region, each partition registered in Glue."""
    wr.s3.to_parquet(
        frame, path=f"s3://{data.bucket}/{folder}", dataset=True, partition_cols=["region"], mode=mode,
        database=DATABASE, table="churn_labels", boto3_session=boto3.Session(),
    )  # fmt: skip


def request(run_id: str = "run-1") -> ValidateRequest:
    return ValidateRequest(request=PipelineInput(model_name="churn"), run_id=run_id)


def test_a_run_reads_the_tables_registered_partitions_and_nothing_else_under_its_location(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    tables: DatasetTables,
    churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:
    registry.put_spec(from_table(churn_spec), actor="test")
    frame = churn_dataset.to_pandas()
    write_table(frame, data)
    # a newer upload beside it, and a file in a folder the catalog does not list: neither is the table
    data.put("datasets/churn/later.csv", b"tenure_months\n1\n")
    data.put("datasets/churn/labels/region=mars/stray.parquet", data.get(data.list_keys("datasets/churn/labels/")[0]))
    result = validate_dataset(request(), registry=registry, data=data, artifacts=artifacts, capture=artifacts,
                              tables=tables)  # fmt: skip
    assert result.rows == churn_dataset.num_rows
    assert result.sources[0].uri == f"s3://{data.bucket}/datasets/churn/labels/"
    split = pa.concat_tables([read_split(artifacts, result.train), read_split(artifacts, result.holdout)])
    assert sorted(set(split.column("region").to_pylist())) == sorted(set(frame["region"]))  # from the partitions
    # WHEN another partition is registered, the next run reads it (something new to learn)
    more = frame.head(40).assign(region="north-east")
    write_table(more, data)
    again = validate_dataset(request("run-2"), registry=registry, data=data, artifacts=artifacts, capture=artifacts,
                             tables=tables)  # fmt: skip
    assert again.rows == churn_dataset.num_rows + 40 and again.fingerprint != result.fingerprint


def test_a_table_outside_the_models_prefix_or_database_or_missing_is_refused_naming_the_field(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, tables: DatasetTables, churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:  # fmt: skip
    write_table(churn_dataset.to_pandas(), data, folder="datasets/other-model/labels/")
    inside = f"s3://{data.bucket}/datasets/churn/x/"
    for table, kind, parameters, keys in (
        ("iceberg", "EXTERNAL_TABLE", {"table_type": "iceberg"}, []),
        ("a_view", "VIRTUAL_VIEW", {}, []),
        ("unrepaired", "EXTERNAL_TABLE", {}, [{"Name": "region", "Type": "string"}]),
    ):
        tables.glue.create_table(DatabaseName=DATABASE, TableInput={
            "Name": table, "TableType": kind, "Parameters": parameters, "PartitionKeys": keys,
            "StorageDescriptor": {"Location": "" if kind == "VIRTUAL_VIEW" else inside},
        })  # fmt: skip
    tables.glue.create_table(DatabaseName=DATABASE, TableInput={
        "Name": "dotted", "StorageDescriptor": {"Location": f"s3://{data.bucket}/datasets/churn/../other-model/"},
    })  # fmt: skip
    cases = [
        (TABLE, DataValidationError, "lies at s3://.*/datasets/other-model/labels/?, outside s3://.*/datasets/churn/"),
        (f"{DATABASE}.dotted", DataValidationError, r"names a location with '.', '..' or '//': s3://.*/churn/\.\./"),
        ("elsewhere.churn_labels", DataValidationError, "not a table of the platform's datasets database"),
        (f"{DATABASE}.missing", NotFoundError, f"^data.source.glue_table: no Glue table {DATABASE}.missing"),
        (f"{DATABASE}.iceberg", DataValidationError, r"\(ICEBERG, location s3://.*\) is not files the platform can"),
        (f"{DATABASE}.a_view", DataValidationError, r"\(VIRTUAL_VIEW, location none\) is not files"),
        (f"{DATABASE}.unrepaired", NotFoundError, "is partitioned and has no partition registered"),
    ]
    for table, error, message in cases:
        registry.put_spec(from_table(churn_spec, table), actor="test")
        with pytest.raises(error, match=message) as raised:
            validate_step(request(), registry=registry, data=data, artifacts=artifacts, capture=artifacts,
                          tables=tables)  # fmt: skip
        assert raised.value.field == "data.source.glue_table"
    assert not artifacts.list_keys("runs/churn/run-1/")  # nothing written


def test_a_partition_registered_outside_the_tables_location_is_refused(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, tables: DatasetTables, churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:  # fmt: skip
    registry.put_spec(from_table(churn_spec), actor="test")
    write_table(churn_dataset.to_pandas(), data)
    tables.glue.create_partition(
        DatabaseName=DATABASE, TableName="churn_labels",
        PartitionInput={"Values": ["x"], "StorageDescriptor": {"Location": f"s3://{data.bucket}/datasets/churn/x/"}},
    )  # fmt: skip
    with pytest.raises(DataValidationError, match=r"partitions of the Glue table .* lie outside .*datasets/churn/x/"):
        validate_step(request(), registry=registry, data=data, artifacts=artifacts, capture=artifacts, tables=tables)


def test_the_retraining_guard_fingerprints_the_table_and_says_why_when_there_is_none(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    tables: DatasetTables,
    churn_spec: ModelSpec,
    churn_dataset: pa.Table,
    state_machine_arn: str,
) -> None:
    spec = from_table(churn_spec).model_copy(
        update={"retrain": churn_spec.retrain.model_copy(update={"cooldown_hours": 0})}
    )
    registry.put_spec(spec, actor="test")

    def ask(event_id: str) -> Any:
        event = RetrainingRequest(trigger="drift", model_name="churn", event_id=event_id, reason="drift")
        decided = request_retraining(event, registry=registry, data=data, capture=data, tables=tables,
                                     sfn=boto3.client("stepfunctions"), state_machine_arn=state_machine_arn,
                                     now=datetime.now(UTC))  # fmt: skip
        return decided.decisions[0]

    refused = ask("e1")
    assert not refused.started and refused.reason == f"data.source.glue_table: no Glue table {TABLE}"
    write_table(churn_dataset.to_pandas(), data)
    assert ask("e2").started
