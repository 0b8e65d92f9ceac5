"""Parquet datasets partitioned Hive-style, registered in the Glue catalog (for Athena and awswrangler).

boto3 only: the functions that register them cannot carry awswrangler and pandas beside pyarrow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient


def _storage(location: str, columns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "Columns": [{"Name": column, "Type": kind} for column, kind in columns],
        "Location": location,
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
    }


def register_partition(
    glue: GlueClient,
    *,
    database: str,
    table: str,
    columns: Sequence[tuple[str, str]],
    location: str,
    partition: tuple[str, str],
    partition_location: str,
) -> None:
    """Make sure the table exists with these (Glue-typed) columns, and that it has this partition.

    The first call creates the table; a later one with other columns (added since) updates it; a
    partition is added once (`partition` is its key and value).
    """
    key, value = partition
    table_input = {
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [{"Name": key, "Type": "string"}],
        "StorageDescriptor": _storage(location, columns),
    }
    try:
        glue.create_table(DatabaseName=database, TableInput=table_input)  # type: ignore[arg-type]
    except glue.exceptions.AlreadyExistsException:
        known = glue.get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]["Columns"]
        if [(c["Name"], c["Type"]) for c in known] != list(columns):
            glue.update_table(DatabaseName=database, TableInput=table_input)  # type: ignore[arg-type]
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        partition_input = {"Values": [value], "StorageDescriptor": _storage(partition_location, columns)}
        glue.create_partition(DatabaseName=database, TableName=table, PartitionInput=partition_input)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TableLocations:
    """Where a Glue table's files are, as the catalog says."""

    kind: str  # EXTERNAL_TABLE, VIRTUAL_VIEW, ... or ICEBERG (from the table's parameters)
    location: str  # "" when the table has none (a view)
    partitioned: bool
    partitions: list[str]  # the registered partitions' locations
    input_format: str = ""  # the storage descriptor's (Parquet's, text's, a symlink manifest's ...)
    partition_formats: list[str] = field(default_factory=list)  # each registered partition's own input format
    parameters: dict[str, str] = field(default_factory=dict)  # the table's (projection.*, table_type, ...)


def table_locations(glue: GlueClient, *, database: str, table: str) -> TableLocations | None:
    """A table's kind, location and registered partitions' locations; None when the database or table does not
    exist."""
    try:
        described = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None
    kind = described.get("Parameters", {}).get("table_type", "").upper() or described.get("TableType", "")
    location = described.get("StorageDescriptor", {}).get("Location", "")
    partitioned = bool(described.get("PartitionKeys"))
    found = []
    if partitioned:
        pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table)
        found = [p["StorageDescriptor"] for page in pages for p in page["Partitions"]]
    input_format = described.get("StorageDescriptor", {}).get("InputFormat", "")
    return TableLocations(
        kind,
        location,
        partitioned,
        [storage["Location"] for storage in found],
        input_format=input_format,
        parameters=described.get("Parameters", {}),
        partition_formats=[storage.get("InputFormat", input_format) for storage in found],
    )
