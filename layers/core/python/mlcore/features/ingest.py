"""Ingest into a feature view's offline store: rows checked against the view's contract, appended by day."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcore.catalog import (
    DATA_SUFFIXES,
    feature_file_key,
    feature_table,
    feature_view_prefix,
    ingest_id,
    ingest_marker_key,
    ingested_rows_key,
)
from mlcore.data import (
    EXAMPLES,
    check_contract,
    column_times,
    concat_dataset,
    failing_rows,
    read_table,
    row_hashes,
    to_parquet,
    view_schema,
)
from mlcore.errors import DataValidationError, NotFoundError
from mlcore.spec import FeatureType, FeatureView
from mlcore.storage import ObjectStore, S3Uri
from mlcore.tables import register_partition

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient
    from mypy_boto3_s3 import S3Client

DAY = "date"  # the offline store's partition: the UTC day of the rows' event times
CLOCK_SKEW = timedelta(minutes=5)  # how far ahead of the ingest's clock a row's time may be (another machine's clock)


@dataclass(frozen=True)
class IngestResult:
    view: str
    ingest: str
    rows: int
    days: list[str]
    files: list[str]
    ignored: list[str] = field(default_factory=list)  # the rows' columns the view does not have: not stored
    already: bool = False  # exactly these rows were stored by `ingest` before: nothing written again


def _glue_columns(view: FeatureView) -> list[tuple[str, str]]:
    return [
        *((entity, "string") for entity in view.entities),
        (view.timestamp, "timestamp"),
        *((f.name, "string" if f.type is FeatureType.CATEGORICAL else "double") for f in view.features),
    ]


def _event_times(table: pa.Table, view: FeatureView, now: datetime) -> tuple[pa.ChunkedArray, list[str]]:
    """The rows' event times (UTC), and what is wrong with them: the first rows whose time cannot be read, and those
    later than `now` (give or take `CLOCK_SKEW`): a value true only in the future would be every read's newest, and
    no request could use it before its time.

    Raises
    ------
    DataValidationError
        When the rows have no time column.
    """
    column = view.timestamp
    missing = f"view '{view.name}': the rows have no time column '{column}'"
    times = pc.cast(column_times(table, column, missing=missing, field=column), pa.timestamp("us", tz="UTC"))
    ahead = pc.greater(times, pa.scalar(now + CLOCK_SKEW, times.type))
    checks = (
        (pc.is_null(times), "without a readable time", "ISO 8601, e.g. 2026-01-31T12:00:00Z"),
        (ahead, "stamped in the future", f"the ingest's time is {now:%Y-%m-%dT%H:%M:%SZ}: ingest a value once true"),
    )
    problems = []
    for failed, what, hint in checks:
        rows = failing_rows(failed)
        if len(rows):
            values = table.column(column).take(rows[:EXAMPLES]).to_pylist()
            shown = ", ".join(
                f"row {row}: {value.isoformat() if isinstance(value, datetime) else repr(value)}"
                for row, value in zip(rows[:EXAMPLES].tolist(), values, strict=True)
            )
            problems.append(
                f"{len(rows)} row{'s' if len(rows) != 1 else ''} {what} in '{column}' ({shown}; rows counted from 0; "
                f"{hint})"
            )
    return times, problems


def ingest_rows(
    view: FeatureView,
    table: pa.Table,
    *,
    data: ObjectStore,
    glue: GlueClient,
    database: str,
    now: datetime | None = None,
) -> IngestResult:
    """Check rows against the view's contract and append them to its offline store, one file per day.

    Each ingest writes new files (named by the ingest's time, never overwriting) and adds their days as
    partitions of the view's Glue table `<database>.<view with _ for ->`, which awswrangler and Athena read.

    Raises
    ------
    DataValidationError
        When a row breaks the contract (every blocking failure, counted) or has no readable event time;
        nothing is written then.
    """
    contract = view.contract_spec()
    now = now or datetime.now(UTC)
    times, problems = _event_times(table, view, now)
    clean, report = check_contract(table, contract, require_target=False)
    if report.blocking:  # told with the times' problems: one ingest names all that is wrong
        problems.append(f"the rows break its contract: {report.summary()}")
    elif not problems:
        problems += _conflicts(view, clean, times)
    if problems:
        raise DataValidationError(
            f"view '{view.name}': {'; '.join(problems)}", field=view.timestamp if not report.blocking else None
        )
    schema = view_schema(view.entities, view.timestamp, view.features)
    rows = pa.table({name: clean.column(name) if name != view.timestamp else times for name in schema.names}).cast(
        schema
    )
    days = pc.strftime(times, format="%Y-%m-%d")
    ignored = [name for name in table.column_names if name not in schema.names]
    stored = ingested_rows_key(view.name, _digest(rows))
    earlier = _stored_by(data, stored, view.name)
    if earlier is not None:  # a retry (after Ctrl-C, a timeout): the rows would only be stored twice
        return IngestResult(view.name, earlier, rows.num_rows, sorted(set(days.to_pylist())), [], ignored, already=True)
    ingest = ingest_id(now, uuid.uuid4().hex[:8])
    files = []
    for day in sorted(set(days.to_pylist())):
        key = feature_file_key(view.name, date.fromisoformat(day), ingest)
        files.append(data.put(key, to_parquet(rows.filter(pc.equal(days, day)))).uri)
        prefix = feature_view_prefix(view.name)
        register_partition(
            glue,
            database=database,
            table=feature_table(view.name),
            columns=_glue_columns(view),
            location=data.uri(prefix),
            partition=(DAY, day),
            partition_location=data.uri(f"{prefix}{DAY}={day}/"),
        )
    # last: the ingest is complete, and from now on read (by training sets and materialization) as a whole
    data.put(ingest_marker_key(view.name, ingest), json.dumps({"files": files}).encode(), "application/json")
    data.put(stored, json.dumps({"ingest": ingest}).encode(), "application/json")
    return IngestResult(view.name, ingest, rows.num_rows, sorted(set(days.to_pylist())), files, ignored)


def _stored_by(data: ObjectStore, key: str, view: str) -> str | None:
    """The ingest that stored the rows whose digest `key` names, while it is still there to read; None: none is."""
    try:
        ingest = str(json.loads(data.get(key))["ingest"])
        data.get(ingest_marker_key(view, ingest))  # withdrawn since (its marker deleted): the rows are stored anew
    except NotFoundError:
        return None
    return ingest


def _digest(rows: pa.Table) -> str:
    """SHA-256 of the rows as stored, in any order (what a CSV or a Parquet file of them reads as)."""
    return hashlib.sha256(np.sort(row_hashes(rows, rows.column_names)).tobytes()).hexdigest()


def _conflicts(view: FeatureView, clean: pa.Table, times: pa.ChunkedArray) -> list[str]:
    """Keys given other values at the same time by two rows (which is true? online, the last would win in silence);
    the same row twice is no conflict."""
    keys = [*view.entities, view.timestamp]
    rows = clean.select([*view.entities, *view.feature_names]).append_column(view.timestamp, times)
    distinct = rows.group_by([*keys, *view.feature_names]).aggregate([])
    counted = distinct.group_by(keys).aggregate([([], "count_all")])
    conflicting = counted.filter(pc.greater(counted.column("count_all"), 1))
    if not conflicting.num_rows:
        return []
    first = conflicting.slice(0, 1).to_pylist()[0]
    named = ", ".join(f"{entity} {first[entity]!r}" for entity in view.entities)
    return [
        f"{conflicting.num_rows} key(s) are given different values at the same time by two rows or more (first: "
        f"{named} at {first[view.timestamp].isoformat()}): keep one row per key and time"
    ]


def source_rows(uri: str, view: FeatureView, s3: S3Client) -> pa.Table:
    """The rows of a .csv/.csv.gz/.parquet object, or of every such object under a prefix, typed by the view."""
    location = S3Uri.parse(uri)
    store, contract = ObjectStore(location.bucket, s3), view.contract_spec()
    try:
        if location.key.endswith(DATA_SUFFIXES):
            return read_table(store.get(location.key), location.key, contract)
        keys = [key for key in store.list_keys(location.key) if key.endswith(DATA_SUFFIXES)]
        if not keys:
            raise DataValidationError(f"no .csv, .csv.gz or .parquet file under {uri}", field="source")
        return concat_dataset([read_table(store.get(key), key, contract) for key in keys])
    except s3.exceptions.ClientError as exc:  # no such bucket, no access: the user's URI, in words
        error = exc.response.get("Error", {})
        raise DataValidationError(
            f"{uri} cannot be read: {error.get('Code', 'error')}: {error.get('Message', exc)}", field="source"
        ) from exc


def read_source(view: FeatureView, *, s3: S3Client, boto3_session: Any = None) -> pa.Table:
    """The rows of the view's declared `source`: an S3 file or prefix, a Glue table or an Athena query
    (the last two through awswrangler).

    Raises
    ------
    DataValidationError
        When the view declares no source.
    """
    source = view.source
    if source is None:
        raise DataValidationError(f"view '{view.name}' declares no source: give a file or an s3:// URI", field="source")
    if source.s3 is not None:
        return source_rows(source.s3, view, s3)
    import awswrangler as wr  # the CLI's environment; never a Lambda function's

    if source.glue_table is not None:
        database, table = source.glue_table.split(".", 1)
        frame = wr.s3.read_parquet_table(database=database, table=table, boto3_session=boto3_session)
    else:
        assert source.athena_sql is not None  # a source is exactly one of the three
        frame = wr.athena.read_sql_query(source.athena_sql, database="default", boto3_session=boto3_session)
    return pa.Table.from_pandas(frame, preserve_index=False)
