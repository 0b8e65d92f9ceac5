"""Athena for the local target: an UNLOAD of one SELECT over Glue tables, run by DuckDB.

moto records a query execution but never runs it, and its Step Functions engine has no Athena integration.
The training pipeline's `RunQuery` state (`athena:startQueryExecution.sync`) needs one statement:
`UNLOAD (<select>) TO 's3://...' WITH (format = 'PARQUET', ...)` in the datasets work group. Here it runs
as Athena would: each table the SELECT names is looked up in the embedded Glue catalog (its registered
partitions, or its location), its files are read from the embedded S3 (Parquet, or CSV: a header line
only when the table's `skip.header.line.count` is 1),
the SELECT is translated from Athena's dialect (Trino) to DuckDB's by sqlglot, and the rows are written as
Parquet files without an extension under the UNLOAD location, which must be empty (as Athena requires).
A query that fails is FAILED with Athena's shape of reason, and the state fails with `States.TaskFailed`.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import sqlglot

from mlcore.queries import DIALECT, QueryError, query_tables
from mlcore.storage import S3Uri

UNLOAD = re.compile(
    r"^\s*UNLOAD\s*\((?P<select>.*)\)\s*TO\s*'(?P<location>s3://[^']+)'\s*WITH\s*\((?P<options>.*)\)\s*$", re.I | re.S
)
FORMAT = re.compile(r"format\s*=\s*'(?P<format>[A-Za-z]+)'", re.I)
CSV_SERDES = ("LazySimpleSerDe", "OpenCSVSerde")


class QueryFailed(Exception):
    """What Athena's `Status.StateChangeReason` would say about a failed query."""


@dataclass(frozen=True)
class QueryRun:
    """One query execution, as GetQueryExecution describes it."""

    query_id: str
    query: str
    database: str
    work_group: str
    state: str
    reason: str | None = None

    def describe(self) -> dict[str, Any]:
        status: dict[str, Any] = {"State": self.state}
        if self.reason:
            status["StateChangeReason"] = self.reason
        return {
            "QueryExecution": {
                "QueryExecutionId": self.query_id,
                "Query": self.query,
                "StatementType": "DML",
                "QueryExecutionContext": {"Database": self.database},
                "Status": status,
                "WorkGroup": self.work_group,
            }
        }


def run_query(query: str, database: str, work_group: str, client: Callable[[str], Any]) -> QueryRun:
    """Run one UNLOAD statement against the embedded Glue and S3 (`client(service)` gives their clients)."""
    query_id = str(uuid.uuid4())
    try:
        _unload(query, database, client, query_id)
    except QueryFailed as exc:
        return QueryRun(query_id, query, database, work_group, "FAILED", str(exc))
    except (duckdb.Error, sqlglot.errors.SqlglotError) as exc:
        return QueryRun(query_id, query, database, work_group, "FAILED", str(exc).splitlines()[0])
    return QueryRun(query_id, query, database, work_group, "SUCCEEDED")


def _unload(query: str, database: str, client: Callable[[str], Any], query_id: str) -> None:
    unload = UNLOAD.match(query)
    if unload is None:
        raise QueryFailed("the local Athena runs one statement only: UNLOAD (SELECT ...) TO 's3://...' WITH (...)")
    options = FORMAT.search(unload["options"])
    if options is None or options["format"].upper() != "PARQUET":
        raise QueryFailed("the local Athena unloads to Parquet only: WITH (format = 'PARQUET')")
    target = S3Uri.parse(unload["location"].rstrip("/") + "/")
    s3, glue = client("s3"), client("glue")
    if s3.list_objects_v2(Bucket=target.bucket, Prefix=target.key, MaxKeys=1).get("KeyCount", 0):
        raise QueryFailed(f"HIVE_PATH_ALREADY_EXISTS: Target directory for table already exists: {target}")
    try:
        tables = query_tables(unload["select"])
    except QueryError as exc:
        raise QueryFailed(str(exc)) from exc
    select = sqlglot.parse_one(unload["select"], read=DIALECT)
    with tempfile.TemporaryDirectory(prefix="local-athena-") as scratch, duckdb.connect() as engine:
        folder = Path(scratch)
        for table in tables:
            _register(engine, glue, s3, (table.database or database, table.name), folder)
        engine.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
        engine.execute(f'USE "{database}"')  # where the query's unqualified names are, as in Athena
        out = folder / "result.parquet"
        engine.execute(f"COPY ({select.sql(dialect='duckdb')}) TO '{out}' (FORMAT PARQUET, COMPRESSION SNAPPY)")
        stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
        s3.upload_file(str(out), target.bucket, f"{target.key}{stamp}_00000_{query_id}")


def _register(engine: Any, glue: Any, s3: Any, table: tuple[str, str], folder: Path) -> None:
    """A Glue table as a DuckDB view of its files, downloaded from S3 (partition columns from their paths)."""
    database, name = table
    try:
        found = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException as exc:
        raise QueryFailed(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{name}' does not exist") from exc
    storage = found.get("StorageDescriptor", {})
    location = S3Uri.parse(storage.get("Location", "").rstrip("/") + "/")
    partitions = glue.get_partitions(DatabaseName=database, TableName=name).get("Partitions", [])
    folders = [S3Uri.parse(p["StorageDescriptor"]["Location"].rstrip("/") + "/") for p in partitions] or [location]
    local = folder / database / name
    files: list[str] = []
    for place in folders:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=place.key):
            for item in page.get("Contents", []):
                if item["Size"] == 0 or item["Key"].endswith("/"):
                    continue
                path = local / item["Key"][len(location.key) :]
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(place.bucket, item["Key"], str(path))
                files.append(str(path))
    engine.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
    view = f'"{database}"."{name}"'
    if not files:  # no rows: the table's columns, from the catalog
        columns = ", ".join(f'NULL::VARCHAR AS "{c["Name"]}"' for c in storage.get("Columns", []))
        engine.execute(f"CREATE VIEW {view} AS SELECT {columns} WHERE false")
        return
    listed = json.dumps(files)
    serde = storage.get("SerdeInfo", {}).get("SerializationLibrary", "")
    if serde.endswith(CSV_SERDES):
        # as Athena reads it: a header line only when the table says to skip one, else the catalog's names
        header = found.get("Parameters", {}).get("skip.header.line.count") == "1"
        names = "" if header else f", names = {json.dumps([c['Name'] for c in storage.get('Columns', [])])}"
        read = f"read_csv({listed}, header = {str(header).lower()}{names}, hive_partitioning = true)"
    else:
        read = f"read_parquet({listed}, hive_partitioning = true, union_by_name = true)"
    engine.execute(f"CREATE VIEW {view} AS SELECT * FROM {read}")
