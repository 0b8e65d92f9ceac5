"""A model's dataset as an Athena query (data.source.athena_sql): the tables it may read, the UNLOAD Validate
hands the state machine, the local Athena that runs it, and the result read as the run's dataset."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import awswrangler as wr
import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet
import pytest

from infra.local.athena import run_query
from mlcore.catalog import FailedStep, PipelineInput, QueryPlan, RetrainingRequest, ValidateRequest, ValidateResult
from mlcore.data import DatasetTables, validate_step
from mlcore.errors import DataValidationError, NotFoundError
from mlcore.monitoring import request_retraining
from mlcore.queries import unload_statement
from mlcore.registry import Registry
from mlcore.runs import describe_failure
from mlcore.spec import ModelSpec, parse_spec
from mlcore.storage import ObjectStore

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # awswrangler's writer
DATABASE = "mlops_datasets"
QUERY = "SELECT * FROM churn_labels WHERE tenure_months >= 12"


def from_query(spec: ModelSpec, sql: str = QUERY) -> ModelSpec:
    raw = spec.model_dump(mode="json", exclude_none=True)
    return parse_spec({**raw, "data": {**raw["data"], "source": {"athena_sql": sql}}})


def write_table(
    frame: Any, data: ObjectStore, folder: str = "datasets/churn/labels/", table: str = "churn_labels"
) -> None:
    wr.s3.to_parquet(
        frame, path=f"s3://{data.bucket}/{folder}", dataset=True, partition_cols=["region"], database=DATABASE,
        table=table, boto3_session=boto3.Session(),
    )  # fmt: skip


def validate(registry: Registry, data: ObjectStore, artifacts: ObjectStore, tables: DatasetTables, run_id: str,
             *, queried: bool = False) -> Any:  # fmt: skip
    request = ValidateRequest(request=PipelineInput(model_name="churn"), run_id=run_id, queried=queried)
    return validate_step(request, registry=registry, data=data, artifacts=artifacts, capture=artifacts, tables=tables)


def run_plan(plan: QueryPlan) -> Any:
    """The state machine's RunQuery step, as the local target runs it."""
    return run_query(plan.query, DATABASE, "queries", boto3.client)


def test_validate_hands_the_state_machine_the_unload_into_the_runs_own_folder(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, tables: DatasetTables, churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:  # fmt: skip
    registry.put_spec(from_query(churn_spec), actor="test")
    write_table(churn_dataset.to_pandas(), data)
    plan = validate(registry, data, artifacts, tables, "run-1")
    assert isinstance(plan, QueryPlan)
    assert plan.query == unload_statement(QUERY, f"s3://{data.bucket}/queries/churn/run-1/unload/")
    assert not artifacts.list_keys("runs/churn/run-1/")  # nothing validated yet
    # a run given a dataset_uri trains on it, as with a Glue table: no query
    sink = pa.BufferOutputStream()
    pa.parquet.write_table(churn_dataset, sink)
    data.put("datasets/churn/upload.parquet", sink.getvalue().to_pybytes())
    given = ValidateRequest(
        request=PipelineInput(model_name="churn", dataset_uri=data.uri("datasets/churn/upload.parquet")), run_id="r2"
    )
    result = validate_step(given, registry=registry, data=data, artifacts=artifacts, capture=artifacts, tables=tables)
    assert isinstance(result, ValidateResult) and result.sources[0].uri.endswith("datasets/churn/upload.parquet")


def test_the_rows_the_query_returned_are_the_dataset_named_by_their_content(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, tables: DatasetTables, churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:  # fmt: skip
    registry.put_spec(from_query(churn_spec), actor="test")
    write_table(churn_dataset.to_pandas(), data)
    results = []
    for run_id in ("run-1", "run-2"):
        ran = run_plan(validate(registry, data, artifacts, tables, run_id))
        assert ran.state == "SUCCEEDED", ran.reason
        results.append(validate(registry, data, artifacts, tables, run_id, queried=True))
    first, second = results
    assert isinstance(first, ValidateResult)
    expected = pc.sum(pc.greater_equal(churn_dataset.column("tenure_months"), 12)).as_py()
    assert first.rows == expected < churn_dataset.num_rows
    [unloaded] = data.list_keys("queries/churn/run-1/unload/")
    assert data.list_keys("queries/churn/run-1/result/") == ["queries/churn/run-1/result/part-00000.parquet"]
    assert data.sha256_of("queries/churn/run-1/result/part-00000.parquet") == data.sha256_of(unloaded)
    # the same rows in the same files a second time are the same data: Athena's names for them are not part of it
    assert second.fingerprint == first.fingerprint
    assert data.list_keys("queries/churn/run-2/unload/") != [unloaded]


def test_every_file_the_query_wrote_is_read_even_two_alike(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, tables: DatasetTables, churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:  # fmt: skip
    registry.put_spec(from_query(churn_spec), actor="test")
    write_table(churn_dataset.to_pandas(), data)
    assert run_plan(validate(registry, data, artifacts, tables, "run-1")).state == "SUCCEEDED"
    [unloaded] = data.list_keys("queries/churn/run-1/unload/")
    data.put(unloaded + "_copy", data.get(unloaded))  # Athena splits rows across files: two may hold the same bytes
    result = validate(registry, data, artifacts, tables, "run-1", queried=True)
    assert result.rows == 2 * pc.sum(pc.greater_equal(churn_dataset.column("tenure_months"), 12)).as_py()


def test_a_query_may_read_only_the_models_tables_of_the_datasets_database(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, tables: DatasetTables, churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:  # fmt: skip
    write_table(churn_dataset.to_pandas(), data)
    # a prefix that starts like the model's name is another model's
    write_table(churn_dataset.to_pandas(), data, folder="datasets/churn-other/labels/", table="other_labels")
    cases = [
        ("SELECT * FROM churn_labels l JOIN other_labels o ON l.tenure_months = o.tenure_months", DataValidationError,
         r"Glue table mlops_datasets.other_labels lies at s3://.*/datasets/churn-other/labels/?, outside"),
        (f"SELECT * FROM {DATABASE}.other_labels", DataValidationError, "other_labels lies at"),
        ("SELECT * FROM elsewhere.churn_labels", DataValidationError,
         "reads elsewhere.churn_labels: only tables of the datasets database 'mlops_datasets' may be read"),
        ("SELECT * FROM churn_labels WHERE 1 IN (SELECT 1 FROM missing)", NotFoundError,
         f"no Glue table {DATABASE}.missing"),
    ]  # fmt: skip
    # tables Athena would read other files of than the catalog lists: projected partitions, a manifest, a format
    for table, input_format, parameters in (
        ("projected", "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat", {"projection.enabled": "true"}),
        ("manifest", "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat", {}),
        ("delta", "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat", {"table_type": "DELTA"}),
    ):
        tables.glue.create_table(DatabaseName=DATABASE, TableInput={
            "Name": table, "TableType": "EXTERNAL_TABLE", "Parameters": parameters,
            "StorageDescriptor": {"Location": data.uri("datasets/churn/labels/"), "InputFormat": input_format},
        })  # fmt: skip
        what = (
            "input format org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat" if table == "manifest" else "parameters"
        )
        cases.append((f"SELECT * FROM {table}", DataValidationError, f"the Glue table {DATABASE}.{table} has {what}"))
    for sql, error, message in cases:
        registry.put_spec(from_query(churn_spec, sql), actor="test")
        with pytest.raises(error, match=message) as raised:
            validate(registry, data, artifacts, tables, "run-1")
        assert raised.value.field == "data.source.athena_sql"
    # a partition is read by its own storage descriptor: one symlink manifest among Parquet partitions
    tables.glue.create_partition(DatabaseName=DATABASE, TableName="churn_labels", PartitionInput={
        "Values": ["mars"], "StorageDescriptor": {
            "Location": data.uri("datasets/churn/labels/region=mars/"),
            "InputFormat": "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat",
        },
    })  # fmt: skip
    registry.put_spec(from_query(churn_spec, "SELECT * FROM churn_labels"), actor="test")
    with pytest.raises(DataValidationError, match=r"has input format .*SymlinkTextInputFormat"):
        validate(registry, data, artifacts, tables, "run-1")
    # the same query over the model's own table alone is run (its partitions plain Parquet again)
    tables.glue.delete_partition(DatabaseName=DATABASE, TableName="churn_labels", PartitionValues=["mars"])
    registry.put_spec(from_query(churn_spec, f"SELECT * FROM {DATABASE}.churn_labels"), actor="test")
    assert isinstance(validate(registry, data, artifacts, tables, "run-1"), QueryPlan)
    assert not data.list_keys("queries/")  # refusals ran nothing


def test_a_query_that_returned_no_rows_fails_validation(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, tables: DatasetTables, churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:  # fmt: skip
    registry.put_spec(from_query(churn_spec, "SELECT * FROM churn_labels WHERE tenure_months < 0"), actor="test")
    write_table(churn_dataset.to_pandas(), data)
    # no file at all (nothing unloaded): the query's field is named
    with pytest.raises(DataValidationError, match="the query returned no rows") as raised:
        validate(registry, data, artifacts, tables, "run-1", queried=True)
    assert raised.value.field == "data.source.athena_sql"
    # a file of no rows: the contract's row count refuses it
    assert run_plan(validate(registry, data, artifacts, tables, "run-1")).state == "SUCCEEDED"
    with pytest.raises(DataValidationError, match="0 rows, the contract needs at least"):
        validate(registry, data, artifacts, tables, "run-1", queried=True)


def test_the_local_athena_fails_as_athena_does_and_the_alert_says_why(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, tables: DatasetTables, churn_spec: ModelSpec,
    churn_dataset: pa.Table,
) -> None:  # fmt: skip
    write_table(churn_dataset.to_pandas(), data)
    target = f"s3://{data.bucket}/queries/churn/run-1/unload/"
    missing = run_query(unload_statement("SELECT * FROM gone", target), DATABASE, "queries", boto3.client)
    assert (missing.state, missing.reason) == (
        "FAILED", f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{DATABASE}.gone' does not exist"
    )  # fmt: skip
    assert run_query(unload_statement(QUERY, target), DATABASE, "queries", boto3.client).state == "SUCCEEDED"
    again = run_query(unload_statement(QUERY, target), DATABASE, "queries", boto3.client)
    assert again.state == "FAILED" and again.reason.startswith("HIVE_PATH_ALREADY_EXISTS")  # UNLOAD wants it empty
    # the Catch of the state gets the execution's description as its cause: the alert gives the reason
    failed = FailedStep.model_validate({
        "pipeline": "training", "step": "Validate", "model_name": "churn", "run_id": "run-1",
        "error": {"Error": "States.TaskFailed", "Cause": json.dumps(missing.describe())},
    })  # fmt: skip
    assert describe_failure(failed).message == (
        f"Validate failed: States.TaskFailed: the query {missing.query_id} FAILED: TABLE_NOT_FOUND: Table "
        f"'awsdatacatalog.{DATABASE}.gone' does not exist"
    )


def test_a_csv_table_is_read_as_the_catalog_describes_it(
    data: ObjectStore, tables: DatasetTables, churn_dataset: pa.Table
) -> None:
    frame = churn_dataset.to_pandas()
    wr.s3.to_csv(
        frame, path=f"s3://{data.bucket}/datasets/churn/csv/", dataset=True, database=DATABASE, table="churn_csv",
        index=False, boto3_session=boto3.Session(),
    )  # fmt: skip
    target = f"s3://{data.bucket}/queries/churn/run-1/unload/"
    ran = run_query(unload_statement("SELECT count(*) AS n FROM churn_csv", target), DATABASE, "q", boto3.client)
    assert ran.state == "SUCCEEDED", ran.reason
    [key] = data.list_keys("queries/churn/run-1/unload/")
    assert pa.parquet.read_table(pa.BufferReader(data.get(key))).column("n").to_pylist() == [len(frame)]
    # WHEN the table says its files have a header line THEN it is not a row
    wr.s3.to_csv(
        frame, path=f"s3://{data.bucket}/datasets/churn/csv-header/", dataset=True, database=DATABASE,
        table="churn_csv_header", index=False, header=True, boto3_session=boto3.Session(),
        glue_table_settings={"parameters": {"skip.header.line.count": "1"}},
    )  # fmt: skip
    target = f"s3://{data.bucket}/queries/churn/run-2/unload/"
    sql = "SELECT count(*) AS n, max(tenure_months) AS top FROM churn_csv_header"
    assert run_query(unload_statement(sql, target), DATABASE, "q", boto3.client).state == "SUCCEEDED"
    [key] = data.list_keys("queries/churn/run-2/unload/")
    counted = pa.parquet.read_table(pa.BufferReader(data.get(key)))
    assert (
        counted.column("n").to_pylist() == [len(frame)]
        and counted.column("top")[0].as_py() == frame.tenure_months.max()
    )


def test_a_retraining_of_a_query_model_is_not_judged_before_its_query_runs(
    registry: Registry, data: ObjectStore, tables: DatasetTables, churn_spec: ModelSpec, state_machine_arn: str
) -> None:
    registry.put_spec(from_query(churn_spec), actor="test")
    event = RetrainingRequest(trigger="drift", model_name="churn", event_id="e1", reason="drift")
    decided = request_retraining(event, registry=registry, data=data, capture=data, tables=tables,
                                 sfn=boto3.client("stepfunctions"), state_machine_arn=state_machine_arn,
                                 now=datetime.now(UTC))  # fmt: skip
    assert decided.decisions[0].started  # no table listing, no upload needed: the run's Validate judges
