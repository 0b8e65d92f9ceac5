"""Feature views' offline stores, and point-in-time training sets joined from them.

A label row at time t takes, per view and entity, the newest feature values whose event time is at or
before t and at most the view's TTL older: never a value from the label's future (that would leak it).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlcore.catalog import DataSource, ViewBinding, feature_view_prefix, ingest_markers_prefix
from mlcore.data.counts import arrow_type
from mlcore.data.datasets import column_times
from mlcore.errors import DataValidationError
from mlcore.spec import Feature, ModelSpec
from mlcore.storage import ObjectStore

_TIME, _ROW = "__mlops_time", "__mlops_row"  # the join's own columns (never a feature: those start with a letter)


@dataclass(frozen=True)
class OfflineFile:
    """One file of a view's offline store: its key, the day of its rows' event times and its ingest id."""

    key: str
    day: date
    ingest: str


def _ingest_of(key: str) -> str:
    """The ingest an offline file belongs to: its name (`<prefix>date=<day>/<ingest>.parquet`)."""
    return key.rsplit("/", 1)[-1].removesuffix(".parquet")


def offline_files(view: str, data: ObjectStore) -> list[OfflineFile]:
    """A view's offline files of complete ingests (an ingest's marker is written after its files), oldest first."""
    prefix, markers = feature_view_prefix(view), ingest_markers_prefix(view)
    complete = {key.removeprefix(markers).removesuffix(".json") for key in data.list_keys(markers)}
    files = []
    for key in data.list_keys(prefix):
        folder, _, name = key.removeprefix(prefix).partition("/")
        if folder.startswith("date=") and name.endswith(".parquet") and _ingest_of(key) in complete:
            files.append(OfflineFile(key, date.fromisoformat(folder[5:]), _ingest_of(key)))
    return sorted(files, key=lambda f: (f.ingest, f.key))


def offline_source(view: str, read: Iterable[tuple[str, str, int]], data: ObjectStore) -> DataSource:
    """What a join read of a view, as a run records it: the SHA-256 of its files' keys and SHA-256s (oldest ingest
    first, as `offline_files` lists them) and their rows. `read`: each file's key, SHA-256 and rows."""
    files = sorted(set(read), key=lambda file: (_ingest_of(file[0]), file[0]))
    digest = hashlib.sha256()
    for key, sha256, _ in files:
        digest.update(f"{key}\0{sha256}\n".encode())
    rows = sum(file[2] for file in files)
    return DataSource(source="view", uri=data.uri(feature_view_prefix(view)), sha256=digest.hexdigest(), rows=rows)


def view_schema(entities: list[str], timestamp: str, features: list[Feature]) -> pa.Schema:
    """A view's columns in its offline store: entity keys (text), the event time, its features (typed)."""
    return pa.schema(
        [
            *((entity, pa.string()) for entity in entities),
            (timestamp, pa.timestamp("us", tz="UTC")),
            *((feature.name, arrow_type(feature)) for feature in features),
        ]
    )


OfflineRead = tuple[pa.Table, tuple[str, str, int]]  # a file's rows, and its key, SHA-256 and rows


def read_offline_file(file: OfflineFile, schema: pa.Schema, data: ObjectStore) -> OfflineRead:
    """A file's rows (only the schema's columns, cast to it), and its key, SHA-256 and rows."""
    raw = data.get(file.key)
    try:
        table = pq.read_table(io.BytesIO(raw))
        # a file ingested before the view gained a feature has no such column: its rows have no value for it
        rows = table.num_rows
        columns = {f.name: table.column(f.name) if f.name in table.column_names else pa.nulls(rows, f.type)
                   for f in schema}  # fmt: skip
        typed = pa.table(columns).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, KeyError) as exc:
        raise DataValidationError(f"the feature view file {data.uri(file.key)} cannot be read: {exc}") from exc
    return typed, (file.key, hashlib.sha256(raw).hexdigest(), rows)


def _rows_of(reads: list[OfflineRead], schema: pa.Schema) -> pa.Table:
    return pa.concat_tables([table for table, _ in reads]) if reads else schema.empty_table()


def offline_file_facts(key: str, data: ObjectStore) -> tuple[str, int]:
    """An offline file's SHA-256 (recorded at ingest) and rows (from its Parquet footer): a few small requests,
    whatever the file's size."""
    try:
        rows = pq.ParquetFile(data.open(key)).metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"the feature view file {data.uri(key)} cannot be read: {exc}") from exc
    return data.sha256_of(key), rows


def read_offline(files: list[OfflineFile], schema: pa.Schema, data: ObjectStore) -> pa.Table:
    """The rows of these files (only the schema's columns, cast to it)."""
    return _rows_of([read_offline_file(file, schema, data) for file in files], schema)


def _micros(times: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return pc.cast(pc.cast(times, pa.timestamp("us", tz="UTC")), pa.int64())


def view_side(binding: ViewBinding, rows: pa.Table) -> pa.Table:
    """A view's rows as the right side of `as_of_join`: the entity keys, the event time (in microseconds, rows
    without one dropped) and the binding's features, sorted by time; built once for many joins."""
    right = pa.table(
        {
            **{entity: rows.column(entity) for entity in binding.entities},
            _TIME: _micros(rows.column(binding.timestamp)),
            **{name: rows.column(name) for name in binding.features},
        }
    )
    return right.filter(pc.is_valid(right.column(_TIME))).sort_by(_TIME)


def join_view_side(labels: pa.Table, label_times: pa.ChunkedArray, binding: ViewBinding, right: pa.Table) -> pa.Table:
    """`as_of_join` against a prepared `view_side`: only the view rows of the labels' entities take part."""
    left = pa.table(
        {
            **{entity: pc.cast(labels.column(entity), pa.string()) for entity in binding.entities},
            _TIME: _micros(label_times),
            _ROW: pa.array(np.arange(labels.num_rows)),
        }
    )
    first = binding.entities[0]
    right = right.filter(pc.is_in(right.column(first), value_set=pc.unique(left.column(first))))
    tolerance = -binding.ttl_micros  # negative: values from the past only
    joined = left.sort_by(_TIME).join_asof(right, on=_TIME, by=binding.entities, tolerance=tolerance)
    return joined.sort_by(_ROW).select(binding.features)


def as_of_join(labels: pa.Table, label_times: pa.ChunkedArray, binding: ViewBinding, rows: pa.Table) -> pa.Table:
    """For each label row, its entity's newest view values at or before its time and within the TTL.

    Returns
    -------
    pyarrow.Table
        The view's features, one row per label row in its order (null where the entity had no value in time).
    """
    return join_view_side(labels, label_times, binding, view_side(binding, rows))


def label_times(labels: pa.Table, spec: ModelSpec) -> pa.ChunkedArray:
    """Each label row's time (see `training_set` for what it refuses)."""
    column = spec.data.timestamp_column
    assert column is not None  # the spec requires it with features_from
    missing = f"the labels' time column '{column}' is missing"
    times = column_times(labels, column, missing=missing, field="data.timestamp_column")
    if times.null_count:
        raise DataValidationError(
            f"{times.null_count} label rows have no time in '{column}': a point-in-time join needs each row's time",
            field="data.timestamp_column",
        )
    if len(times) == 0:
        raise DataValidationError("the labels have no rows", field="data")
    return times


def label_range(times: pa.ChunkedArray) -> tuple[datetime, datetime]:
    """The oldest and the newest of these times."""
    low, high = pc.min_max(times).values()
    return low.as_py(), high.as_py()


def window_days(low: datetime, high: datetime, ttl_hours: float) -> tuple[date, date]:
    """The days of a view's files a join of label times from `low` to `high` can use: from the oldest minus the TTL."""
    return (low - timedelta(hours=ttl_hours)).date(), high.date()


def _days(times: pa.ChunkedArray, ttl_hours: float) -> tuple[date, date]:
    return window_days(*label_range(times), ttl_hours)


def training_set(
    labels: pa.Table,
    spec: ModelSpec,
    data: ObjectStore,
    *,
    cache: dict[tuple[Any, ...], Any] | None = None,
    read: dict[str, set[tuple[str, str, int]]] | None = None,
    listed: Mapping[str, list[OfflineFile]] | None = None,
    times: pa.ChunkedArray | None = None,
) -> tuple[pa.Table, list[DataSource]]:
    """The labels with each `features_from` feature joined point in time from its view's offline store (`cache`,
    `read` and `listed`: see `join_view`, for the batches of a part's labels; `times`: the labels' `label_times`,
    when the caller has them already).

    Returns
    -------
    tuple
        The label table with the views' feature columns added, and one DataSource per view read.

    Raises
    ------
    DataValidationError
        When the labels lack their time column or a view's entity key, or already have a view's feature.
    """
    times = label_times(labels, spec) if times is None else times
    sources = []
    for view, binding in spec.views.items():
        taken = [name for name in binding.features if name in labels.column_names]
        if taken:
            raise DataValidationError(
                f"the labels already have {taken}, which come from view '{view}': drop them from the labels",
                field="features_from",
            )
        labels, source = join_view(
            labels, times, view, binding, spec=spec, data=data, rows_are="labels", cache=cache, read=read, listed=listed
        )
        sources.append(source)
    return labels, sources


def join_view(
    table: pa.Table,
    times: pa.ChunkedArray,
    view: str,
    binding: ViewBinding,
    *,
    spec: ModelSpec,
    data: ObjectStore,
    rows_are: str,
    cache: dict[tuple[Any, ...], Any] | None = None,
    read: dict[str, set[tuple[str, str, int]]] | None = None,
    listed: Mapping[str, list[OfflineFile]] | None = None,
) -> tuple[pa.Table, DataSource]:
    """The table with the binding's features joined from the view's offline store as of each row's time (within
    the TTL), and the DataSource of what was read. `cache` keeps what was read by view, days and features, for
    the next table of the same times (a batch's files and their batches of rows); it holds the last window
    read per view (its files' rows, kept for the next window to reuse, and their prepared join side: about two
    windows' memory, whatever the number of tables). `read` gathers, per view, each
    file read (key, SHA-256, rows). `listed`: the views' files as listed once for a run (its parts must not see
    an ingest that completes while they run); without it, the view's files are listed now.

    Raises
    ------
    DataValidationError
        When the table lacks one of the view's entity keys (`rows_are` names the rows in the message).
    """
    missing = [entity for entity in binding.entities if entity not in table.column_names]
    if missing:
        raise DataValidationError(
            f"the {rows_are} need view '{view}''s entity keys: {missing} are missing", field="features_from"
        )
    first, last = _days(times, binding.ttl_hours)
    cache = {} if cache is None else cache
    key = (view, first, last, tuple(binding.features))
    if key not in cache:
        kept: dict[str, OfflineRead] = {}  # the files of the window held before: a sliding window reads only new ones
        for other in [k for k in cache if k[0] == view and k[3] == key[3]]:  # one window per view held at a time
            kept.update(cache.pop(other)[1])
        listing = listed[view] if listed is not None else offline_files(view, data)
        files = [f for f in listing if first <= f.day <= last]
        schema = view_schema(binding.entities, binding.timestamp, [spec.feature(name) for name in binding.features])
        reads = {f.key: kept.get(f.key) or read_offline_file(f, schema, data) for f in files}
        cache[key] = view_side(binding, _rows_of(list(reads.values()), schema)), reads  # prepared once
    right, reads = cache[key]
    files_read = [facts for _, facts in reads.values()]
    if read is not None:
        read.setdefault(view, set()).update(files_read)
    for name, column in zip(binding.features, join_view_side(table, times, binding, right).columns, strict=True):
        table = table.append_column(name, column)
    return table, offline_source(view, files_read, data)
