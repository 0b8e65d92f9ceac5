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

import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import sqlglot
from sqlglot import expressions as exp

from mlcore.queries import DIALECT, QueryError, table_references
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
        select = sqlglot.parse_one(unload["select"], read=DIALECT)
        references = table_references(select)
    except QueryError as exc:
        raise QueryFailed(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="local-athena-") as scratch, duckdb.connect() as engine:
        folder = Path(scratch)
        # each table as a relation of its files, named t<n>: no name from the catalog enters DuckDB's SQL text
        registered: dict[tuple[str, str], str] = {}
        for table in references:
            key = ((table.db or database).lower(), table.name.lower())
            if key not in registered:
                registered[key] = f"t{len(registered)}"
                _relation(engine, glue, s3, key, folder / registered[key]).create_view(registered[key])
            if not table.args.get("alias"):  # `labels.x` still names the table's columns
                table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
            table.set("this", exp.to_identifier(registered[key]))
            table.set("db", None)
            table.set("catalog", None)
        out = folder / "result.parquet"
        engine.sql(select.sql(dialect="duckdb")).write_parquet(str(out), compression="snappy")
        stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
        s3.upload_file(str(out), target.bucket, f"{target.key}{stamp}_00000_{query_id}")


def _relation(engine: Any, glue: Any, s3: Any, table: tuple[str, str], folder: Path) -> Any:
    """A Glue table as a DuckDB relation of its files, downloaded from S3 to `folder`; a partitioned table's
    partition values come from the catalog (as `key=value` folders), as Athena takes them."""
    database, name = table
    try:
        found = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException as exc:
        raise QueryFailed(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{name}' does not exist") from exc
    storage = found.get("StorageDescriptor", {})
    keys = [key["Name"] for key in found.get("PartitionKeys", [])]
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name)
    places = [
        (
            p["StorageDescriptor"]["Location"],
            "/".join(f"{k}={quote(v, safe='')}" for k, v in zip(keys, p["Values"], strict=True)),
        )
        for page in pages
        for p in page["Partitions"]
    ]
    files = [
        path
        for location, partition in (places if keys else [(storage.get("Location", ""), "")])
        for path in _download(s3, S3Uri.parse(location.rstrip("/") + "/"), folder / partition)
    ]
    columns = [column["Name"] for column in storage.get("Columns", [])]
    if not files:  # no rows: the table's columns, from the catalog
        nulls = ", ".join(exp.alias_(exp.Null(), column, quoted=True).sql("duckdb") for column in columns) or "NULL"
        return engine.sql(f"SELECT {nulls} WHERE false")
    hive = bool(keys)
    if storage.get("SerdeInfo", {}).get("SerializationLibrary", "").endswith(CSV_SERDES):
        # as Athena reads it: a header line only when the table says to skip one, else the catalog's names
        if found.get("Parameters", {}).get("skip.header.line.count") == "1":
            return engine.read_csv(files, header=True, hive_partitioning=hive)
        return engine.read_csv(files, header=False, names=columns, hive_partitioning=hive)
    return engine.read_parquet(files, hive_partitioning=hive, union_by_name=True)


def _download(s3: Any, place: S3Uri, folder: Path) -> list[str]:
    """The objects under an S3 folder, downloaded under a local one at their paths inside it."""
    paths = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=place.key):
        for item in page.get("Contents", []):
            if item["Size"] == 0 or item["Key"].endswith("/"):
                continue
            path = (folder / item["Key"][len(place.key) :]).resolve()
            if not path.is_relative_to(folder.resolve()):
                raise QueryFailed(f"the object {item['Key']} is not inside {place}")
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(place.bucket, item["Key"], str(path))
            paths.append(str(path))
    return paths
