"""Batch scoring's steps on the embedded AWS: plan, score each chunk, publish the manifest and the Glue partition."""

from __future__ import annotations

import io
import json
import re
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from functional_helpers import csv_bytes

from infra.local.example_data import churn_table
from mlcore.batch import plan_batch, publish_batch, score_chunk, write_chunk_failure
from mlcore.catalog import BatchManifest, BatchPlan, BatchRequest, PlanBatchRequest, batch_manifest_key
from mlcore.data import to_parquet
from mlcore.errors import (
    ArtifactIntegrityError,
    BadRequestError,
    BatchScoringError,
    DataValidationError,
    NotFoundError,
)
from mlcore.registry import Registry, VersionStatus
from mlcore.serving import OnnxModel
from mlcore.storage import ObjectStore

if TYPE_CHECKING:
    from conftest import TrainedModel

INPUT, OUTPUT = "batches/churn/in/", "batches/churn/out/"
DATABASE = "mlops_runs"
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age", "data_usage_gb", "plan", "region"]


def with_ids(table: pa.Table, first: int) -> pa.Table:
    """The features and a customer id (an input column a spec keeps beside each prediction)."""
    ids = pa.array([f"cust-{first + i}" for i in range(table.num_rows)])
    return table.select(FEATURES).append_column("customer_id", ids)


@pytest.fixture
def spec_with_batch(registry: Registry, churn_champion: Any, trained_churn: TrainedModel) -> Any:
    spec = trained_churn.spec.model_copy(
        update={"batch": trained_churn.spec.batch.model_copy(update={"keep_columns": ["customer_id"]})}
    )
    registry.put_spec(spec, actor="test")
    return spec


@pytest.fixture
def glue() -> Any:
    client = boto3.client("glue", region_name="us-east-1")
    client.create_database(DatabaseInput={"Name": DATABASE})
    return client


def keeping(registry: Registry, spec: Any, column: str) -> None:
    """The spec, keeping `column` beside each prediction instead."""
    batch = spec.batch.model_copy(update={"keep_columns": [column]})
    registry.put_spec(spec.model_copy(update={"batch": batch}), actor="test")


def plan(
    registry: Registry, data: ObjectStore, *, chunk_mb: float = 256, version: int | None = None, lambda_mb: float = 64
) -> BatchPlan:
    request = BatchRequest(
        model_name="churn",
        input=data.uri(INPUT),
        output=data.uri(OUTPUT),
        chunk_mb=chunk_mb,
        version=version,
        lambda_mb=lambda_mb,
    )
    return plan_batch(
        PlanBatchRequest(request=request, batch_id="20260301T000000Z-abc123"), registry=registry, data=data
    )


def test_a_batch_scores_every_clean_row_and_refuses_the_others_with_the_apis_reasons(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    glue: Any,
    spec_with_batch: Any,
    trained_churn: TrainedModel,
) -> None:
    # GIVEN three files: a Parquet file, a CSV with two bad rows, and a hive-partitioned Parquet file
    first, second, third = (with_ids(churn_table(40, seed=s), 100 * s) for s in (1, 2, 3))
    rows = second.to_pylist()
    rows[3]["age"] = 130  # above the spec's maximum of 100
    rows[7]["plan"] = "gold"  # not one of the plan's categories
    data.put(INPUT + "a.parquet", to_parquet(first))
    data.put(INPUT + "b.csv", csv_bytes(pa.Table.from_pylist(rows)))
    data.put(INPUT + "dt=2026-03-01/c.parquet", to_parquet(third))
    # WHEN it is planned in chunks small enough to need two jobs, each chunk is scored and the batch published
    planned = plan(registry, data, chunk_mb=sum(o.size for o in data.list_objects(INPUT)[:2]) / 1e6)
    assert planned.chunks == 2 and planned.files == 3 and planned.version == 1
    results = [
        score_chunk(planned.plan_key, f"{i:05d}", registry=registry, artifacts=artifacts, data=data)
        for i in range(planned.chunks)
    ]
    manifest = publish_batch(planned, data=data, glue=glue, database=DATABASE)
    # THEN every row is counted: 120 read, 118 scored, the two bad ones refused
    assert (manifest.read, manifest.scored, manifest.rejected) == (120, 118, 2)
    assert sum(r.read for r in results) == 120
    stored = BatchManifest.model_validate_json(data.get(batch_manifest_key(OUTPUT, planned.batch_id)))
    assert stored == manifest
    # the rejects say which row, which field and why, in the API's words
    rejects = [json.loads(line) for uri in manifest.rejects for line in data.get(uri.split("/", 3)[3]).splitlines()]
    assert [(r["row_id"], r["field"]) for r in rejects] == [("b.csv:3", "age"), ("b.csv:7", "plan")]
    assert rejects[0]["reason"] == "age: 130 is above the maximum 100"
    assert "'gold' is not one of the model's categories" in rejects[1]["reason"]
    assert rejects[1]["row"]["plan"] == "gold"
    assert [r["kept"] for r in rejects] == [{"customer_id": "cust-203"}, {"customer_id": "cust-207"}]  # their ids
    # the predictions carry the model, version, row id and the kept column, and equal the model's own
    predictions = pq.read_table(io.BytesIO(data.get(manifest.predictions.split("/", 3)[3] + "part-00000.parquet")))
    assert predictions.column_names == [
        "model_name", "model_version", "row_id", "customer_id", "prediction", "score",
    ]  # fmt: skip
    assert set(predictions.column("model_version").to_pylist()) == {1}
    assert predictions.column("row_id").to_pylist()[:2] == ["a.parquet:0", "a.parquet:1"]
    model = OnnxModel(trained_churn.onnx, trained_churn.signature, trained_churn.classes)
    expected = model.predict(model.validate(first.select(FEATURES).to_pylist(), 1000).tensors)
    assert predictions.column("prediction").to_pylist()[:40] == [str(v) for v in expected["label"].tolist()]
    np.testing.assert_allclose(predictions.column("score").to_numpy()[:40], expected["probabilities"][:, 1], rtol=1e-6)
    assert predictions.column("customer_id").to_pylist()[:2] == ["cust-100", "cust-101"]
    # and the batch is a partition of the model's predictions table in the Glue catalog
    assert manifest.table == f"{DATABASE}.churn_predictions"
    table = glue.get_table(DatabaseName=DATABASE, Name="churn_predictions")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]][3:] == ["customer_id", "prediction", "score"]
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="churn_predictions")["Partitions"]
    assert [p["Values"] for p in partitions] == [[planned.batch_id]]


def scored_outputs(data: ObjectStore, result: Any) -> tuple[pa.Table, list[dict[str, Any]], int]:
    """A chunk's predictions, its rejects and the number of row groups of its predictions file."""
    raw = data.get(result.predictions_key)
    rejects = [json.loads(line) for line in data.get(result.rejects_key).splitlines()] if result.rejects_key else []
    return pq.read_table(io.BytesIO(raw)), rejects, pq.ParquetFile(io.BytesIO(raw)).num_row_groups


def test_a_large_file_is_scored_a_batch_of_rows_at_a_time_with_the_same_outputs(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, spec_with_batch: Any
) -> None:
    # GIVEN a file of 50 rows with bad rows in its second and last batches of 16, and a header-only CSV
    rows = with_ids(churn_table(50, seed=4), 0).to_pylist()
    rows[20]["age"], rows[49]["plan"] = 130, "gold"
    data.put(INPUT + "a.parquet", to_parquet(pa.Table.from_pylist(rows)))
    data.put(INPUT + "b.csv", b",".join(c.encode() for c in [*FEATURES, "customer_id"]) + b"\n")
    planned = plan(registry, data)
    # WHEN the chunk is scored 16 rows at a time, and again reading each file whole
    streamed = score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data, batch_rows=16)
    in_batches = scored_outputs(data, streamed)
    whole = score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    at_once = scored_outputs(data, whole)
    # THEN the predictions were written a batch at a time (a row group each: 16, 16, 16 and 2 rows)
    assert (in_batches[2], at_once[2]) == (4, 1)
    # and they are the same: row ids count the file's rows across batches, the rejects name the file's rows
    assert (
        (streamed.read, streamed.scored, streamed.rejected) == (whole.read, whole.scored, whole.rejected) == (50, 48, 2)
    )
    assert in_batches[0].equals(at_once[0])
    assert in_batches[1] == at_once[1]
    assert [r["row_id"] for r in in_batches[1]] == ["a.parquet:20", "a.parquet:49"]
    assert in_batches[0].column("row_id").to_pylist()[19:21] == ["a.parquet:19", "a.parquet:21"]
    assert in_batches[0].column("customer_id").to_pylist()[-1] == "cust-48"
    # and the header-only file is read (its columns checked against batch.keep_columns) and adds no row
    data.put(INPUT + "b.csv", b",".join(c.encode() for c in FEATURES) + b"\n")
    with pytest.raises(Exception, match=r"batch.keep_columns \['customer_id'\] are not columns of .*b\.csv$"):
        score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data, batch_rows=16)
    # and one that names it in another case is pointed at
    data.put(INPUT + "b.csv", b",".join(c.encode() for c in [*FEATURES, "Customer_ID"]) + b"\n")
    with pytest.raises(Exception, match=r"b\.csv \(the data has 'Customer_ID': a column's name must be the spec's"):
        score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data, batch_rows=16)


def test_a_kept_column_of_a_csv_passes_through_as_written(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, spec_with_batch: Any
) -> None:
    # GIVEN a header-only CSV, then a CSV whose kept zip codes look like numbers, one with a leading zero
    keeping(registry, spec_with_batch, "zip")
    table = churn_table(3, seed=6).select(FEATURES)
    data.put(INPUT + "a.csv", ",".join([*FEATURES, "zip"]).encode() + b"\n")
    data.put(INPUT + "b.csv", csv_bytes(table.append_column("zip", pa.array(["02134", "10001", "90210"]))))
    planned = plan(registry, data)
    # WHEN the chunk is scored
    result = score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    # THEN the zip codes are in the predictions as the file wrote them (no number inferred, no zero lost)
    assert result.scored == 3 and ("zip", "string") in result.columns
    predictions = pq.read_table(io.BytesIO(data.get(str(result.predictions_key))))
    assert predictions.column("zip").to_pylist() == ["02134", "10001", "90210"]


def test_a_file_without_a_required_features_column_fails_naming_it_and_a_nullable_one_may_be_left_out(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, spec_with_batch: Any
) -> None:
    # GIVEN a file without the nullable data_usage_gb: its rows are scored, the feature null
    without_usage = with_ids(churn_table(5, seed=6), 0).drop_columns(["data_usage_gb"])
    data.put(INPUT + "a.parquet", to_parquet(without_usage))
    result = score_chunk(plan(registry, data).plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    assert (result.read, result.scored, result.rejected) == (5, 5, 0)
    # WHEN another file lacks age, which may not be null
    data.put(INPUT + "b.parquet", to_parquet(without_usage.drop_columns(["age"])))
    # THEN the chunk fails naming the file and the column, rather than refusing each of its rows
    with pytest.raises(DataValidationError, match=r"b\.parquet has no column 'age', a feature of the model that may"):
        score_chunk(plan(registry, data).plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    # AND a file that names it in another case is pointed at
    data.put(INPUT + "b.parquet", to_parquet(without_usage.rename_columns(
        ["Age" if c == "age" else c for c in without_usage.column_names])))  # fmt: skip
    with pytest.raises(DataValidationError, match=r"has no column 'age' \(the data has 'Age': a column's name must"):
        score_chunk(plan(registry, data).plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    # AND a header-only file without it adds no row and fails nothing, nor does a file of no bytes
    data.put(INPUT + "b.csv", ",".join([*(c for c in FEATURES if c != "age"), "customer_id"]).encode() + b"\n")
    data.put(INPUT + "c.csv", b"")
    data.client.delete_object(Bucket=data.bucket, Key=INPUT + "b.parquet")
    result = score_chunk(plan(registry, data).plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    assert (result.read, result.scored, result.rejected, result.files) == (5, 5, 0, 3)


def test_a_version_is_scored_on_its_own_inputs_whatever_the_spec_added_or_dropped_since(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, spec_with_batch: Any
) -> None:
    from mlcore.spec import parse_spec

    # GIVEN v1 serving, and a spec registered since that drops age (v1 reads it) and adds discount (v1 does not)
    raw = spec_with_batch.model_dump(mode="json", exclude_none=True)
    features = [f for f in raw["features"] if f["name"] != "age"] + [{"name": "discount", "type": "numeric"}]
    registry.put_spec(parse_spec({**raw, "features": features}), actor="test")
    # WHEN a file of v1's inputs is scored, age in it as a CSV writes it
    data.put(INPUT + "a.csv", csv_bytes(with_ids(churn_table(5, seed=6), 0)))
    result = score_chunk(plan(registry, data).plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    # THEN every row is scored by v1, as the API would score it
    assert (result.read, result.scored, result.rejected) == (5, 5, 0)


def test_a_kept_column_that_is_a_number_in_one_file_and_text_in_another_fails_naming_it(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, glue: Any, spec_with_batch: Any
) -> None:
    # GIVEN zip codes kept from a Parquet file, where they are numbers, and from a CSV, where they are text
    keeping(registry, spec_with_batch, "zip")
    table = churn_table(3, seed=7).select(FEATURES)
    data.put(INPUT + "a.parquet", to_parquet(table.append_column("zip", pa.array([2134, 10001, 90210]))))
    data.put(INPUT + "b.csv", csv_bytes(table.append_column("zip", pa.array(["02134", "10001", "90210"]))))
    # WHEN both files are one chunk THEN the chunk fails naming the column, the file and the types (never 2134)
    together = plan(registry, data)
    with pytest.raises(DataValidationError, match=r"batch.keep_columns: zip is string in b\.csv but int64 in"):
        score_chunk(together.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    # WHEN each file is a chunk THEN each is scored, and the publish step refuses a partition of two schemas
    apart = plan(registry, data, chunk_mb=min(o.size for o in data.list_objects(INPUT)) / 1e6)
    for i in range(apart.chunks):
        score_chunk(apart.plan_key, f"{i:05d}", registry=registry, artifacts=artifacts, data=data)
    with pytest.raises(BatchScoringError, match=r"chunk 00001's predictions have other columns than chunk 00000's"):
        publish_batch(apart, data=data, glue=glue, database=DATABASE)
    assert data.list_keys(OUTPUT + "predictions/") == []  # withdrawn: neither chunk's rows are read as published


def test_a_kept_text_column_is_one_string_type_whether_a_pandas_parquet_or_a_csv_gave_it(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, glue: Any, spec_with_batch: Any
) -> None:
    import pyarrow.dataset as ds

    # GIVEN ids kept from a Parquet file pandas wrote (large_string) and from a CSV (string), each its own chunk
    keeping(registry, spec_with_batch, "customer_id")
    table = churn_table(3, seed=9).select(FEATURES)
    ids = pa.array(["c1", "c2", "c3"], pa.large_string())
    data.put(INPUT + "a.parquet", to_parquet(table.append_column("customer_id", ids)))
    data.put(INPUT + "b.csv", csv_bytes(table.append_column("customer_id", pa.array(["c4", "c5", "c6"]))))
    apart = plan(registry, data, chunk_mb=min(o.size for o in data.list_objects(INPUT)) / 1e6)
    assert apart.chunks == 2
    for i in range(apart.chunks):
        score_chunk(apart.plan_key, f"{i:05d}", registry=registry, artifacts=artifacts, data=data)
    # WHEN the batch is published THEN its partition's files read as one dataset (they did not: two string types)
    publish_batch(apart, data=data, glue=glue, database=DATABASE)
    files = [pq.read_table(io.BytesIO(data.get(key))) for key in data.list_keys(OUTPUT + "predictions/")]
    assert [f.schema.field("customer_id").type for f in files] == [pa.string(), pa.string()]
    assert sorted(ds.dataset(files).to_table().column("customer_id").to_pylist()) == [f"c{i}" for i in range(1, 7)]


def test_chunks_whose_kept_column_differs_only_in_width_are_published(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, glue: Any, spec_with_batch: Any
) -> None:
    # GIVEN a kept store number that is int32 in one Parquet file and int64 in another, each its own chunk
    keeping(registry, spec_with_batch, "store")
    table = churn_table(3, seed=8).select(FEATURES)
    data.put(INPUT + "a.parquet", to_parquet(table.append_column("store", pa.array([1, 2, 3], pa.int32()))))
    data.put(INPUT + "b.parquet", to_parquet(table.append_column("store", pa.array([4, 5, 6], pa.int64()))))
    apart = plan(registry, data, chunk_mb=min(o.size for o in data.list_objects(INPUT)) / 1e6)
    assert apart.chunks == 2
    for i in range(apart.chunks):
        score_chunk(apart.plan_key, f"{i:05d}", registry=registry, artifacts=artifacts, data=data)
    # WHEN the batch is published THEN it is, the table holding the wider type (Athena reads an int file as bigint)
    manifest = publish_batch(apart, data=data, glue=glue, database=DATABASE)
    assert manifest.scored == 6
    database, name = str(manifest.table).split(".")
    columns = glue.get_table(DatabaseName=database, Name=name)["Table"]["StorageDescriptor"]["Columns"]
    assert {"Name": "store", "Type": "bigint"} in columns


def test_a_csv_cell_that_is_not_a_number_refuses_its_row_only(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, spec_with_batch: Any, trained_churn: TrainedModel
) -> None:
    # GIVEN a CSV whose `age` column has one cell of words (so the column reads as text), and a bad plan elsewhere
    rows = with_ids(churn_table(30, seed=5), 0).to_pylist()
    for row in rows:
        row["age"] = "" if row["age"] is None else f"{row['age']:g}"
    rows[5]["age"], rows[9]["plan"] = "forty", "gold"
    data.put(INPUT + "a.csv", csv_bytes(pa.Table.from_pylist(rows)))
    planned = plan(registry, data)
    # WHEN it is scored
    result = score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    predictions, rejects, _ = scored_outputs(data, result)
    # THEN only those two rows are refused, each with the API's reason; the numbers written as text are numbers
    assert [(r["row_id"], r["field"]) for r in rejects] == [("a.csv:5", "age"), ("a.csv:9", "plan")]
    assert rejects[0]["reason"] == "age: expected a number, got str"
    assert result.scored == 28
    clean = [row for i, row in enumerate(with_ids(churn_table(30, seed=5), 0).to_pylist()) if i not in (5, 9)]
    model = OnnxModel(trained_churn.onnx, trained_churn.signature, trained_churn.classes)
    expected = model.predict(model.validate([{f: row[f] for f in FEATURES} for row in clean], 1000).tensors)
    np.testing.assert_allclose(predictions.column("score").to_numpy(), expected["probabilities"][:, 1], rtol=1e-6)
    assert [r["kept"] for r in rejects] == [{"customer_id": "cust-5"}, {"customer_id": "cust-9"}]
    # AND a batch that keeps no column refuses the same rows, their lines without kept values
    registry.put_spec(spec_with_batch.model_copy(update={"batch": spec_with_batch.batch.model_copy(
        update={"keep_columns": []})}), actor="test")  # fmt: skip
    result = score_chunk(plan(registry, data).plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    _, bare, _ = scored_outputs(data, result)
    assert [(r["row_id"], r["field"]) for r in bare] == [("a.csv:5", "age"), ("a.csv:9", "plan")]
    assert all("kept" not in r for r in bare) and result.scored == 28


def test_a_refused_rows_infinite_value_is_written_in_its_rejects_line_as_text_not_null(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, spec_with_batch: Any
) -> None:
    rows = with_ids(churn_table(3, seed=4), 0).to_pylist()
    rows[1]["monthly_charges"] = float("inf")
    data.put(INPUT + "a.parquet", to_parquet(pa.Table.from_pylist(rows)))
    result = score_chunk(plan(registry, data).plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    _, rejects, _ = scored_outputs(data, result)
    assert [(r["row_id"], r["field"], r["row"]["monthly_charges"]) for r in rejects] == [
        ("a.parquet:1", "monthly_charges", "inf")
    ]


def batch_with_a_failed_chunk(registry: Registry, data: ObjectStore, artifacts: ObjectStore) -> Any:
    """A batch of two chunks, the first scored, the second failed (a file without the kept column): its plan."""
    data.put(INPUT + "a.parquet", to_parquet(with_ids(churn_table(20, seed=1), 0)))
    data.put(INPUT + "b.parquet", to_parquet(churn_table(20, seed=2).select(FEATURES)))
    planned = plan(registry, data, chunk_mb=0.000001)
    score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    with pytest.raises(Exception) as failed:
        score_chunk(planned.plan_key, "00001", registry=registry, artifacts=artifacts, data=data)
    write_chunk_failure(data, planned.plan_key, "00001", failed.value)
    return planned


def test_a_batch_publishes_nothing_when_a_chunk_failed_and_names_why(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, glue: Any, spec_with_batch: Any
) -> None:
    # GIVEN a batch of two chunks, the second of which failed (a file without the kept column)
    planned = batch_with_a_failed_chunk(registry, data, artifacts)
    # WHEN the batch is published
    with pytest.raises(BatchScoringError) as error:
        publish_batch(planned, data=data, glue=glue, database=DATABASE)
    # THEN it fails naming the chunk and its error, and writes no manifest and no table
    assert (
        "1 of 2 chunks failed; nothing was published (what its chunks wrote is withdrawn: 1 file)"
        in error.value.message
    )
    assert (
        "chunk 00001: DataValidationError: batch.keep_columns ['customer_id'] are not columns of" in error.value.message
    )
    assert not data.list_keys(batch_manifest_key(OUTPUT, planned.batch_id))
    assert glue.get_tables(DatabaseName=DATABASE)["TableList"] == []
    # AND the first chunk's predictions are withdrawn: a read of the output folder finds no row of this batch
    assert data.list_keys(OUTPUT + "predictions/") == []
    # AND a chunk that was still scoring (a Map does not stop a running invocation) uploads nothing when it ends
    with pytest.raises(BatchScoringError, match=f"batch {planned.batch_id} failed and was withdrawn while chunk"):
        score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    assert data.list_keys(OUTPUT + "predictions/") == []


def test_a_withdrawal_s3_refuses_still_names_why_the_batch_failed(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    glue: Any,
    spec_with_batch: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlcore.errors import DependencyError

    planned = batch_with_a_failed_chunk(registry, data, artifacts)

    def refused(prefix: str) -> int:
        raise DependencyError(f"S3 did not delete s3://bucket/{prefix}part-00000.parquet: AccessDenied")

    monkeypatch.setattr(data, "delete_under", refused)
    with pytest.raises(BatchScoringError) as error:
        publish_batch(planned, data=data, glue=glue, database=DATABASE)
    assert (
        "1 of 2 chunks failed; nothing was published (its chunks' files could not be withdrawn: DependencyError:"
        in (error.value.message)
    )
    assert "chunk 00001: DataValidationError: batch.keep_columns" in error.value.message


@pytest.mark.parametrize(
    ("lambda_mb", "words"),
    [
        (0, "chunk 00000: the scoring job stopped without a result (see its Batch job's log)"),
        (64, "chunk 00000: the scoring function stopped without a result: its time (15 minutes) or memory ran out"),
    ],
)
def test_a_chunk_without_result_or_failure_is_named_too(  # noqa: PLR0917 (pytest fixtures and parameters)
    registry: Registry, data: ObjectStore, glue: Any, spec_with_batch: Any, lambda_mb: float, words: str
) -> None:
    # GIVEN a one-chunk batch whose Batch job, or Lambda function, died before writing anything (out of memory)
    data.put(INPUT + "a.parquet", to_parquet(with_ids(churn_table(20, seed=1), 0)))
    planned = plan(registry, data, lambda_mb=lambda_mb)
    # WHEN it is published THEN the message points at the log of where the chunk ran
    with pytest.raises(BatchScoringError, match=re.escape(words)):
        publish_batch(planned, data=data, glue=glue, database=DATABASE)


def test_a_chunk_refuses_a_model_whose_bytes_changed(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, spec_with_batch: Any
) -> None:
    # GIVEN a planned batch, and then the champion's model file overwritten in S3
    data.put(INPUT + "a.parquet", to_parquet(with_ids(churn_table(20, seed=1), 0)))
    planned = plan(registry, data)
    model = registry.get_version("churn", 1).artifacts["model"]
    artifacts.put(model.uri.split("/", 3)[3], b"not the model")
    # WHEN its chunk is scored THEN the SHA-256 check refuses the model and nothing is written
    with pytest.raises(ArtifactIntegrityError):
        score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    assert not data.list_keys(OUTPUT + "predictions/")


@pytest.mark.parametrize(
    ("input_uri", "output_uri", "field", "words"),
    [
        ("s3://elsewhere/in/", f"s3://{{data}}/{OUTPUT}", "input", "outside the platform's data bucket"),
        (f"s3://{{data}}/{INPUT}", "s3://elsewhere/out/", "output", "outside the platform's data bucket"),
        (f"s3://{{data}}/{INPUT}", f"s3://{{data}}/{INPUT}out/", "output", "may not contain the input"),
        (f"s3://{{data}}/{INPUT[:-1]}", f"s3://{{data}}/{OUTPUT}", "input", "must be a prefix, ending in /"),
        ("not-a-uri", f"s3://{{data}}/{OUTPUT}", "input", "not an s3:// URI"),
    ],
)
def test_a_plan_refuses_inputs_and_outputs_it_may_not_use(  # noqa: PLR0917 (pytest fixtures and parameters)
    registry: Registry, data: ObjectStore, spec_with_batch: Any, input_uri: str, output_uri: str, field: str, words: str
) -> None:
    data.put(INPUT + "a.parquet", to_parquet(with_ids(churn_table(5, seed=1), 0)))
    request = BatchRequest(
        model_name="churn", input=input_uri.format(data=data.bucket), output=output_uri.format(data=data.bucket)
    )
    with pytest.raises(BadRequestError) as error:
        plan_batch(PlanBatchRequest(request=request, batch_id="b1"), registry=registry, data=data)
    assert error.value.field == field and words in error.value.message


def test_a_plan_needs_data_files_and_an_approved_version(
    registry: Registry, data: ObjectStore, spec_with_batch: Any
) -> None:
    with pytest.raises(NotFoundError, match=r"no \.csv, \.csv\.gz or \.parquet file under"):
        plan(registry, data)
    data.put(INPUT + "a.parquet", to_parquet(with_ids(churn_table(5, seed=1), 0)))
    registry.set_status("churn", 1, VersionStatus.REJECTED, actor="test")
    with pytest.raises(BadRequestError, match=r"version 1 of churn is rejected: only an approved version"):
        plan(registry, data, version=1)
    with pytest.raises(NotFoundError):
        plan(registry, data, version=7)


def test_files_are_chunked_up_to_the_size_and_never_split(registry: Registry, data: ObjectStore) -> None:
    from datetime import UTC, datetime

    from mlcore.batch import chunk_files
    from mlcore.storage import StoredObject

    at = datetime(2026, 3, 1, tzinfo=UTC)
    files = [StoredObject(f"in/{name}", at, size) for name, size in (("a", 40), ("b", 60), ("c", 1), ("d", 500))]
    # exactly the limit fits; one byte more starts a chunk; a file larger than the limit is a chunk of its own
    assert chunk_files(files, 100) == [["in/a", "in/b"], ["in/c"], ["in/d"]]
    assert chunk_files(files, 99) == [["in/a"], ["in/b", "in/c"], ["in/d"]]
    assert chunk_files(files, 10_000) == [["in/a", "in/b", "in/c", "in/d"]]


def test_a_chunk_up_to_the_lambda_size_is_scored_in_lambda_and_a_larger_one_in_batch() -> None:
    from mlcore.batch import chunk_runner

    assert chunk_runner(100, 100) == "lambda"  # exactly the limit
    assert chunk_runner(101, 100) == "batch"  # one byte more
    assert chunk_runner(0, 0) == "batch"  # lambda_mb 0: every chunk in Batch, an empty one too


@pytest.mark.parametrize(("lambda_mb_of_large", "runners"), [(0, ["lambda", "batch"]), (1, ["lambda", "lambda"])])
def test_the_plan_tells_the_map_where_each_chunk_runs(
    registry: Registry, data: ObjectStore, churn_champion: Any, lambda_mb_of_large: int, runners: list[str]
) -> None:
    # GIVEN a small file and a large one, each a chunk of its own
    data.put(INPUT + "a.parquet", to_parquet(with_ids(churn_table(5, seed=1), 0)))
    data.put(INPUT + "b.parquet", to_parquet(with_ids(churn_table(400, seed=2), 0)))
    small, large = (o.size for o in data.list_objects(INPUT))
    # WHEN it is planned with a Lambda limit one byte under the large chunk, or exactly at it
    planned = plan(registry, data, chunk_mb=small / 1e6, lambda_mb=(large - 1 + lambda_mb_of_large) / 1e6)
    # THEN the chunk list the Distributed Map reads says where each chunk runs, and the plan counts them
    items = json.loads(data.get(planned.chunks_key))
    assert items == [{"chunk": "00000", "runner": runners[0]}, {"chunk": "00001", "runner": runners[1]}]
    assert planned.lambda_chunks == runners.count("lambda")


def test_a_retired_model_scores_no_batch(spec_with_batch: Any, registry: Registry, data: ObjectStore) -> None:
    from mlcore.errors import ModelRetiredError

    data.put(INPUT + "a.parquet", to_parquet(with_ids(churn_table(40, seed=1), 100)))
    spec = registry.get_spec("churn")
    registry.put_spec(spec.model_copy(update={"retired": True}), actor="test")
    with pytest.raises(ModelRetiredError, match="is retired"):
        plan(registry, data)
    registry.put_spec(spec, actor="test")
    assert plan(registry, data).chunks == 1
