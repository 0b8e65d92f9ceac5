"""Run records as a Parquet dataset partitioned by model, registered in the Glue catalog (for Athena).

One file per run under `exports/runs/model_name=<model>/`; the Glue table `runs` of the runs
database has a fixed schema (nested fields as JSON text: Athena's `json_extract` reads them), and
each model's partition is added when its first run is exported. awswrangler reads it back
(`wr.s3.read_parquet(path, dataset=True)`, `wr.athena.read_sql_query`); the record step writes it
with pyarrow and boto3 because awswrangler and pandas do not fit in a Lambda function beside pyarrow.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from mlcore.catalog import RUNS_EXPORT
from mlcore.registry import RunRecord
from mlcore.storage import ObjectStore
from mlcore.tables import register_partition

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient

RUNS_TABLE = "runs"
PARTITION = "model_name"
# (column, Glue type): the table's schema, in order; `model_name` is the partition key.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "string"),
    ("parent_run_id", "string"),
    ("trial", "int"),
    ("trigger", "string"),
    ("reason", "string"),
    ("event_id", "string"),
    ("status", "string"),
    ("outcome", "string"),
    ("started_at", "string"),
    ("ended_at", "string"),
    ("spec_sha256", "string"),
    ("estimator", "string"),
    ("params", "string"),
    ("datasets", "string"),
    ("fingerprint", "string"),
    ("code_version", "string"),
    ("image", "string"),
    ("primary_metric", "string"),
    ("primary_value", "double"),
    ("metrics", "string"),
    ("cross_validation", "string"),
    ("champion_version", "int"),
    ("comparison", "string"),
    ("gate_passed", "boolean"),
    ("gate_reason", "string"),
    ("version", "int"),
    ("steps", "string"),
    ("vcpu_seconds", "double"),
    ("gb_seconds", "double"),
    ("cost_usd", "double"),
    ("training_code", "string"),  # added after the first release: new columns go last
    ("threshold", "double"),
    ("compared_rows", "int"),
    ("compared_metrics", "string"),
    ("segments", "string"),
    ("champion_metrics", "string"),
    ("features", "string"),
    ("started_by", "string"),
)
_JSON = {
    "params", "datasets", "metrics", "cross_validation", "comparison", "steps", "compared_metrics", "segments",
    "champion_metrics", "features",
}  # fmt: skip


def row(record: RunRecord) -> dict[str, Any]:
    """A run record as one row of the export."""
    document = record.model_dump(mode="json")
    values: dict[str, Any] = {}
    for column, _ in COLUMNS:
        if column in _JSON:
            values[column] = json.dumps(document.get(column)) if document.get(column) is not None else None
        elif column == "primary_value":
            values[column] = record.metrics.get(record.primary_metric)
        elif column in ("vcpu_seconds", "gb_seconds", "cost_usd"):
            values[column] = getattr(record.batch, column)
        else:
            values[column] = document.get(column)
    return values


def _parquet(records: list[RunRecord]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "int": pa.int32(), "double": pa.float64(), "boolean": pa.bool_()}
    schema = pa.schema([(column, types[kind]) for column, kind in COLUMNS])
    table = pa.Table.from_pylist([row(record) for record in records], schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def export_runs(records: list[RunRecord], *, artifacts: ObjectStore, glue: GlueClient, database: str) -> str:
    """Write a run and its children as one Parquet file of their model's partition; register both in Glue."""
    model = records[0].model_name
    prefix = f"{RUNS_EXPORT}{PARTITION}={model}/"
    artifacts.put(f"{prefix}{records[0].run_id}.parquet", _parquet(records), "application/vnd.apache.parquet")
    # The first run of the deployment creates the table, the first run of each model its partition.
    register_partition(
        glue,
        database=database,
        table=RUNS_TABLE,
        columns=COLUMNS,
        location=artifacts.uri(RUNS_EXPORT),
        partition=(PARTITION, model),
        partition_location=artifacts.uri(prefix),
    )
    return artifacts.uri(prefix)
