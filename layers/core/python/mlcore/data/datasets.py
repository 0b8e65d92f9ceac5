"""Datasets as Arrow tables: reading CSV and Parquet, the newest upload, the train/holdout split."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlcore.catalog import (
    DATA_SUFFIXES,
    Artifact,
    dataset_prefix,
    query_result_key,
    query_result_prefix,
    query_unload_prefix,
)
from mlcore.errors import ArtifactIntegrityError, DataValidationError, NotFoundError
from mlcore.queries import QUERY_FIELD, QueryError, query_tables, unload_statement
from mlcore.spec import Feature, ModelSpec, Task
from mlcore.storage import ObjectStore, S3Uri, sha256_hex
from mlcore.tables import TableLocations, table_locations

# What a CSV cell says when it means "no value" (an empty cell included), in any column of the spec.
NULL_SPELLINGS = ("", "NA", "N/A", "n/a", "null", "NULL", "NaN", "nan")


def _spec_columns(spec: ModelSpec) -> dict[str, Feature | None]:
    """The columns the spec types: its features, and the target (None)."""
    return {**{f.name: f for f in spec.features}, spec.target: None}


def _typed(column: pa.ChunkedArray, feature: Feature | None, spec: ModelSpec) -> pa.ChunkedArray:
    """A CSV column read as text, with its null spellings as nulls and, if numeric, as float64.

    A category the spec lists is a value even when it is spelled like a null (`NA` for North
    America). Text that is not a number stays text, for the contract to count and show.
    """
    keep = set(feature.categories or []) if feature is not None else set()
    nulls = pa.array([spelling for spelling in NULL_SPELLINGS if spelling not in keep], pa.string())
    column = pc.if_else(pc.is_in(column, value_set=nulls), pa.scalar(None, pa.string()), column)
    numeric = feature.is_numeric if feature is not None else spec.task is Task.REGRESSION
    if not numeric:
        return column
    try:
        return pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return column


def _csv_options(spec: ModelSpec | None) -> pacsv.ConvertOptions:
    """A spec's feature and target columns are read as text, typed afterwards by `_spec_typed`."""
    columns = _spec_columns(spec) if spec is not None else {}
    return pacsv.ConvertOptions(column_types={name: pa.string() for name in columns})


def _spec_typed(table: pa.Table, spec: ModelSpec | None) -> pa.Table:
    """A CSV's columns as the spec types them (see `read_table`)."""
    if spec is None:
        return table
    for name, feature in _spec_columns(spec).items():
        if name in table.column_names:
            index = table.column_names.index(name)
            table = table.set_column(index, name, _typed(table.column(name), feature, spec))
    return table


def _categories_as_text(table: pa.Table, spec: ModelSpec | None) -> pa.Table:
    """A Parquet file's categorical columns (a view's entity keys too) as text, as a CSV's are read: a folder of
    both, or of files that wrote a key as a number and as text, reads as one table."""
    for name, feature in _spec_columns(spec).items() if spec is not None else ():
        kind = table.schema.field(name).type if name in table.column_names else None
        # whole numbers (an id) and dictionaries (pandas' category) read as their text; others stay for the contract
        as_text = kind is not None and (pa.types.is_integer(kind) or pa.types.is_dictionary(kind))
        if feature is not None and not feature.is_numeric and as_text:
            table = table.set_column(table.column_names.index(name), name, pc.cast(table.column(name), pa.string()))
    return table


def _compression(key: str) -> str | None:
    return "gzip" if key.endswith(".gz") else None


def read_table(data: bytes, key: str, spec: ModelSpec | None = None) -> pa.Table:
    """Read a CSV or parquet file given as bytes (by the key's suffix).

    With a spec, a CSV's feature and target columns are read as the spec types them: numeric ones
    as float64 (even when the first rows look like integers), categorical ones as text (even when
    they look like numbers: hours 0..23, zip codes with leading zeros), and an empty cell or a null
    spelling (`NA`, `N/A`, `null`, `NaN`) as a null. Other columns are read as the CSV reader infers.
    A Parquet file's categorical columns that are not text (numbers, say) are read as text too.
    """
    try:
        if key.endswith((".parquet", ".pq")):
            return _categories_as_text(pq.read_table(io.BytesIO(data)), spec)
        if key.endswith((".csv", ".csv.gz")):
            stream = pa.input_stream(io.BytesIO(data), compression=_compression(key))
            return _spec_typed(pacsv.read_csv(stream, convert_options=_csv_options(spec)), spec)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(exc, key, lambda: io.BytesIO(data)) from exc
    raise DataValidationError(f"unsupported dataset format for {key!r}: use .csv, .csv.gz or .parquet")


def _unreadable(exc: Exception, key: str, source: Callable[[], IO[bytes]]) -> DataValidationError:
    """Why a dataset file cannot be read: Arrow's reason, and for a CSV row whose cells do not match the header's
    (an unquoted comma, often) its line, which Arrow does not give (only the row's text)."""
    line = _misshapen_line(source, key) if key.endswith((".csv", ".csv.gz")) and "columns, got" in str(exc) else None
    where = f"line {line}: " if line is not None else ""
    return DataValidationError(f"dataset {key!r} cannot be read: {where}{exc}")


def _misshapen_line(source: Callable[[], IO[bytes]], key: str) -> int | None:
    """The line where a CSV's first row with another number of cells than its header starts (the file read again,
    on the error path only; a quoted cell may span lines, and empty lines are skipped, as Arrow reads them); None
    when this reading finds none (a stray quote can make it read the rest of the file as one cell)."""
    with source() as raw, gzip.open(raw) if key.endswith(".gz") else raw as stream:
        reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=""))
        width, start = None, 1
        try:
            for row in reader:
                if row and width is None:
                    width = len(row)
                elif row and len(row) != width:
                    return start
                start = reader.line_num + 1
        except (csv.Error, EOFError, OSError):  # a cell past csv's size limit, a truncated gzip: no line to name
            return None
    return None


def _csv_batches(
    path: str, key: str, spec: ModelSpec, columns: Collection[str] | None, text: Collection[str] = ()
) -> pacsv.CSVStreamingReader:
    """A CSV file's record batches (of `columns` only, when given; `text` columns as written, never inferred). A
    streaming reader fixes each column's type by the first block (1 MiB): a column the spec does not type and that
    is empty there is read as text, or its first value later would fail the read (reading the file whole would
    have seen it)."""
    types = {**_csv_options(spec).column_types, **dict.fromkeys(text, pa.string())}
    reader = pacsv.open_csv(
        pa.input_stream(path, compression=_compression(key)), convert_options=pacsv.ConvertOptions(column_types=types)
    )
    empty = [column.name for column in reader.schema if pa.types.is_null(column.type)]
    names = reader.schema.names
    include = names if columns is None else [name for name in names if name in columns]
    if not empty and include == names:
        return reader
    reader.close()
    return pacsv.open_csv(
        pa.input_stream(path, compression=_compression(key)),
        convert_options=pacsv.ConvertOptions(
            column_types={**types, **dict.fromkeys(empty, pa.string())}, include_columns=include
        ),
    )


def iter_file(
    path: str,
    key: str,
    relative: str,
    spec: ModelSpec,
    batch_rows: int,
    *,
    columns: Collection[str] | None = None,
    text: Collection[str] = (),
) -> Iterator[pa.Table]:
    """A dataset's file on local disk, a record batch at a time (memory stays at a batch), typed like
    `read_dataset_file`: the spec's CSV types, and its hive partitions as columns. With `columns`, only those of
    the file's columns are read (another column can then neither cost time nor fail the read); a CSV's `text`
    columns are read as written (no type is inferred for them: `007` stays `007`, and a later `A-7` is no error).

    Raises
    ------
    DataValidationError
        When the file cannot be read (or a later block of a CSV disagrees with the type the first block gave a
        column the spec does not type, other than an empty one), naming it.
    """
    try:
        if key.endswith((".parquet", ".pq")):
            parquet = pq.ParquetFile(path)
            names = parquet.schema_arrow.names
            read = names if columns is None else [name for name in names if name in columns]
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=read):
                yield with_partitions(pa.Table.from_batches([batch]), relative, spec)
        elif key.endswith((".csv", ".csv.gz")):
            for batch in _csv_batches(path, key, spec, columns, text):
                yield with_partitions(_spec_typed(pa.Table.from_batches([batch]), spec), relative, spec)
        else:
            raise DataValidationError(f"unsupported dataset format for {key!r}: use .csv, .csv.gz or .parquet")
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(exc, key, lambda: open(path, "rb")) from exc  # noqa: SIM115 (closed by _misshapen_line)


def file_columns(path: str, key: str) -> list[str]:
    """A dataset file's column names (a Parquet file's schema, a CSV's header line), its rows unread; none when
    they cannot be read (this serves an error's hint, which must not hide the error)."""
    try:
        if key.endswith((".parquet", ".pq")):
            return list(pq.ParquetFile(path).schema_arrow.names)
        with gzip.open(path) if key.endswith(".gz") else open(path, "rb") as source:
            header = source.readline(1 << 20).decode("utf-8", errors="replace")
        return next(csv.reader([header.rstrip("\r\n")]), [])
    except (OSError, EOFError, pa.ArrowException, csv.Error):
        return []


def to_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def read_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def read_split(artifacts: ObjectStore, artifact: Artifact) -> pa.Table:
    """A side of a run's split: one Parquet file, or, for a dataset checked in parts, a folder of them;
    verified against its SHA-256 (a folder's: of its files' names and SHA-256s).

    Raises
    ------
    ArtifactIntegrityError
        When the folder is outside the bucket, or its files are not those the validate step wrote.
    """
    if not artifact.uri.endswith("/"):
        return read_parquet(artifacts.get_verified(artifact))
    location = S3Uri.parse(artifact.uri)
    if location.bucket != artifacts.bucket:
        raise ArtifactIntegrityError(f"artifact {artifact.uri} is outside the bucket {artifacts.bucket}")
    files = [(key, artifacts.get(key)) for key in sorted(artifacts.list_keys(location.key))]
    actual = folder_sha256([(key.rsplit("/", 1)[-1], sha256_hex(raw)) for key, raw in files])
    if actual != artifact.sha256:
        raise ArtifactIntegrityError(
            f"artifact {artifact.uri} has SHA-256 {actual[:12]}…, the validate step recorded {artifact.sha256[:12]}…"
        )
    return concat_dataset([read_parquet(raw) for _, raw in files])


def dataset_root(model_name: str, key: str) -> str:
    """The dataset an object under `datasets/<model>/` belongs to: itself, or the folder right under the prefix.

    A folder's files (in `key=value` sub-folders, hive style, or not) are one dataset.
    """
    prefix = dataset_prefix(model_name)
    folder, slash, _ = key[len(prefix) :].partition("/")
    return f"{prefix}{folder}/" if slash else key


def latest_dataset_key(model_name: str, data: ObjectStore) -> str:
    """The dataset uploaded last under `datasets/<model>/`: the file, or the folder, written to last
    (by when it was written, then by name). A folder's key ends with `/`."""
    found = data.list_objects(dataset_prefix(model_name))
    if not found:
        raise NotFoundError(f"no dataset under s3://{data.bucket}/{dataset_prefix(model_name)}; upload one first")
    return dataset_root(model_name, max(found, key=lambda item: (item.last_modified, item.key)).key)


@dataclass(frozen=True)
class DatasetFiles:
    """A dataset: one file (`root` is its key), or every data file under a folder (`root` ends with `/`)."""

    root: str
    keys: tuple[str, ...]

    @property
    def is_folder(self) -> bool:
        return self.root.endswith("/")

    def relative(self, key: str) -> str:
        """A file's path inside the dataset (its name, for a single file)."""
        return key[len(self.root) :] if self.is_folder else key.rsplit("/", 1)[-1]


def dataset_files(data: ObjectStore, root: str) -> DatasetFiles:
    """The files of the dataset at `root`, in key order.

    Raises
    ------
    NotFoundError
        For a folder without any .csv, .csv.gz or .parquet file.
    """
    if not root.endswith("/"):
        return DatasetFiles(root, (root,))
    keys = tuple(sorted(item.key for item in data.list_objects(root) if item.key.endswith(DATA_SUFFIXES)))
    if not keys:
        raise NotFoundError(f"no .csv, .csv.gz or .parquet file under s3://{data.bucket}/{root}")
    return DatasetFiles(root, keys)


@dataclass(frozen=True)
class DatasetTables:
    """The platform's datasets database in the Glue catalog: where a spec's `data.source.glue_table` lives."""

    glue: Any  # a Glue client
    database: str


def model_dataset(
    spec: ModelSpec,
    data: ObjectStore,
    tables: DatasetTables | None = None,
    uri: str | None = None,
    queried_run: str | None = None,
) -> DatasetFiles:
    """The dataset a run of the model trains on: the one named by `uri` (which must be the model's), else what
    the run's Athena query returned (`data.source.athena_sql`; `queried_run` is the run, once its query ran),
    else the spec's Glue table (`data.source.glue_table`), else the newest upload under `datasets/<model>/`.

    Raises
    ------
    DataValidationError
        When `uri`, or the table's files, lie outside the model's prefix, or the table is not one of the
        datasets database, or the query returned nothing, naming the field.
    NotFoundError
        When there is no such dataset, table or file.
    """
    prefix = dataset_prefix(spec.name)
    if uri:
        location = S3Uri.parse(uri)
        if location.bucket != data.bucket or not location.key.startswith(prefix):
            raise DataValidationError(f"dataset_uri must be under s3://{data.bucket}/{prefix}", field="dataset_uri")
        return dataset_files(data, location.key)
    source = spec.data.source
    if source is not None and source.athena_sql is not None:
        if queried_run is None:
            raise DataValidationError("the dataset is what the query returns: run it first", field=QUERY_FIELD)
        return query_result(spec.name, queried_run, data)
    if source is None or source.glue_table is None:
        return dataset_files(data, latest_dataset_key(spec.name, data))
    return _table_files(source.glue_table, prefix, data, tables)


def query_statement(spec: ModelSpec, run_id: str, data: ObjectStore, tables: DatasetTables | None) -> str:
    """The UNLOAD the run's Athena step runs for `data.source.athena_sql`, once every table the query reads is
    one the model may train on: a Hive-style table of the datasets database with its files under the model's
    prefix (as `data.source.glue_table` must be).

    Raises
    ------
    DataValidationError
        When the query is not one SELECT, or reads a table of another database or outside the model's prefix.
    NotFoundError
        When a table it reads does not exist.
    """
    assert spec.data.source is not None and spec.data.source.athena_sql is not None
    sql = spec.data.source.athena_sql
    try:
        read = query_tables(sql)
    except QueryError as exc:
        raise DataValidationError(str(exc), field=QUERY_FIELD) from exc
    database = tables.database if tables else None
    for table in read:
        if table.database not in (None, database):
            raise DataValidationError(
                f"the query reads {table.database}.{table.name}: only tables of the datasets database "
                f"'{database}' may be read",
                field=QUERY_FIELD,
            )
        _table_files(f"{database}.{table.name}", dataset_prefix(spec.name), data, tables, queried=True)
    return unload_statement(sql, data.uri(query_unload_prefix(spec.name, run_id)))


QUERY_COPIES = 10  # a large result is many files: copies at once (botocore's pool) keep Validate inside its minute
# What Athena reads from a table as the catalog lists it (its registered partitions, or its location): Parquet or
# text files. Partition projection, a symlink manifest or a table format (Iceberg, Delta, Hudi) would have it read
# files the platform did not check.
QUERYABLE_INPUT_FORMATS = (
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "org.apache.hadoop.mapred.TextInputFormat",
)


def _queryable(found: TableLocations, name: str) -> None:
    """Refuse a table Athena would read other files of than those its catalog entry lists under the model's prefix."""
    projected = found.parameters.get("projection.enabled", "").lower() == "true"  # awswrangler writes "false"
    redirects = ["projection.enabled"] * projected + ["table_type"] * ("table_type" in found.parameters)
    # Athena reads a partition by its own storage descriptor: each must be plain files too
    formats = sorted({found.input_format, *found.partition_formats} - set(QUERYABLE_INPUT_FORMATS))
    if formats or redirects:
        what = f"parameters {redirects}" if redirects else f"input format {formats[0] or 'none'}"
        raise DataValidationError(
            f"the Glue table {name} has {what}: a query reads only Hive-style tables of Parquet or text files at "
            "their registered partitions",
            field=QUERY_FIELD,
        )


def query_result(model: str, run_id: str, data: ObjectStore) -> DatasetFiles:
    """What the run's query unloaded, as a folder of Parquet files (copies of Athena's, which have no extension and
    are named by the query's execution), `part-<n>.parquet` in the order of Athena's names: the same rows in the same
    files give the same dataset, run after run. The copies are S3's own (nothing passes through this function).

    Raises
    ------
    DataValidationError
        When the query wrote no file.
    """
    unloaded = query_unload_prefix(model, run_id)
    written = sorted(item.key for item in data.list_objects(unloaded) if item.size > 0)
    if not written:
        raise DataValidationError(f"the query returned no rows (nothing under {data.uri(unloaded)})", field=QUERY_FIELD)
    with ThreadPoolExecutor(max_workers=QUERY_COPIES) as pool:  # S3 copies; here, only waiting
        list(pool.map(data.copy, written, [query_result_key(model, run_id, i) for i in range(len(written))]))
    return dataset_files(data, query_result_prefix(model, run_id))


def _table_files(
    name: str, prefix: str, data: ObjectStore, tables: DatasetTables | None, *, queried: bool = False
) -> DatasetFiles:
    """The data files of a Glue table's registered partitions (or of its location, unpartitioned), which must all
    lie under the model's prefix: a file in a folder the catalog does not list is not the table's. A table an
    Athena query reads (`queried`) must also be one Athena reads only those files of (`_queryable`)."""
    field = QUERY_FIELD if queried else "data.source.glue_table"
    database, table = name.split(".", 1)
    if tables is None or database != tables.database:
        known = f"'{tables.database}'" if tables else "(none in this step)"
        raise DataValidationError(f"{name} is not a table of the platform's datasets database {known}", field=field)
    found = table_locations(tables.glue, database=database, table=table)
    if found is None:
        raise NotFoundError(f"{field}: no Glue table {name}", field=field)
    location, partitions = found.location, found.partitions
    if queried and found.kind not in ("ICEBERG", "VIRTUAL_VIEW"):
        _queryable(found, name)
    if found.kind in ("ICEBERG", "VIRTUAL_VIEW") or not location.startswith("s3://"):
        raise DataValidationError(
            f"the Glue table {name} ({found.kind or 'no type'}, location {location or 'none'}) is not files the "
            "platform can read: name a Hive-style table of Parquet or CSV files under s3://",
            field=field,
        )
    if found.partitioned and not partitions:
        raise NotFoundError(f"the Glue table {name} is partitioned and has no partition registered", field=field)
    outside = f"s3://{data.bucket}/{prefix}"
    dotted = [place for place in [location, *partitions] if _dotted(place)]
    if dotted:  # `datasets/<model>/../other/` reads as inside by its text; a reader may resolve it elsewhere
        raise DataValidationError(f"the Glue table {name} names a location with '.', '..' or '//': {dotted[0]}",
                                  field=field)  # fmt: skip
    root = S3Uri.parse(location.rstrip("/") + "/")
    if root.bucket != data.bucket or not root.key.startswith(prefix):
        raise DataValidationError(f"the Glue table {name} lies at {location}, outside {outside}", field=field)
    registered = [S3Uri.parse(p.rstrip("/") + "/") for p in partitions]
    strays = [str(f) for f in registered if f.bucket != data.bucket or not f.key.startswith(root.key)]
    if strays:
        raise DataValidationError(f"partitions of the Glue table {name} lie outside {location}: {strays}", field=field)
    folders = [f.key for f in registered] if partitions else [root.key]
    keys = sorted({i.key for folder in folders for i in data.list_objects(folder) if i.key.endswith(DATA_SUFFIXES)})
    if not keys:
        raise NotFoundError(
            f"the Glue table {name} has no .csv, .csv.gz or .parquet file in its "
            + (f"{len(partitions)} partitions" if partitions else f"location {location}")
            + " (files without these endings, as Athena's CTAS and UNLOAD write, are not read)",
            field=field,
        )
    return DatasetFiles(root.key, tuple(keys))


def _dotted(location: str) -> bool:
    """Whether an s3:// location has an empty, `.` or `..` segment in its key."""
    key = location.removeprefix("s3://").partition("/")[2].rstrip("/")
    return any(segment in ("", ".", "..") for segment in key.split("/")) if key else False


def dataset_sha256(files: DatasetFiles, data: ObjectStore) -> str:
    """A file's SHA-256; for a folder, the SHA-256 of its files' paths and SHA-256s (any change changes it)."""
    if not files.is_folder:
        return data.sha256_of(files.root)
    return folder_sha256([(files.relative(key), data.sha256_of(key)) for key in files.keys])


def folder_sha256(files: list[tuple[str, str]]) -> str:
    """The SHA-256 of a folder's files given as (path inside it, SHA-256), in path order."""
    digest = hashlib.sha256()
    for relative, sha256 in sorted(files):
        digest.update(f"{relative}\0{sha256}\n".encode())
    return digest.hexdigest()


def folder_artifact(uri: str, files: list[tuple[str, str, int]]) -> Artifact:
    """A folder as one artifact: its files given as (path inside it, SHA-256, size)."""
    return Artifact(
        uri=uri,
        sha256=folder_sha256([(relative, sha256) for relative, sha256, _ in files]),
        size=sum(size for _, _, size in files),
    )


def hive_partitions(relative: str) -> dict[str, str]:
    """The `key=value` folders of a file's path inside its dataset (`dt=2026-01-01/part-0.parquet`)."""
    folders = relative.split("/")[:-1]
    return dict(folder.split("=", 1) for folder in folders if "=" in folder)


def read_dataset_file(raw: bytes, key: str, relative: str, spec: ModelSpec) -> pa.Table:
    """One file of a dataset, with its hive partitions as columns (typed by the spec) unless the file has them."""
    return with_partitions(read_table(raw, key, spec), relative, spec)


def with_partitions(table: pa.Table, relative: str, spec: ModelSpec) -> pa.Table:
    """A file's rows with its path's `key=value` folders as columns (typed by the spec), unless it has them."""
    columns = _spec_columns(spec)
    for name, value in hive_partitions(relative).items():
        if name not in table.column_names:
            text = pa.chunked_array([pa.array([value] * table.num_rows, pa.string())])
            table = table.append_column(name, _typed(text, columns[name], spec) if name in columns else text)
    return table


def concat_dataset(tables: list[pa.Table]) -> pa.Table:
    """The files' tables as one: columns matched by name, numbers widened, a column missing from a file null.

    Raises
    ------
    DataValidationError
        When a column's types cannot be reconciled across files, naming it.
    """
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataValidationError(f"the dataset's files do not agree on their columns' types: {exc}") from exc


def is_text(kind: pa.DataType) -> bool:
    """Whether a column of this type holds text (as a CSV's kept or unparsed columns do)."""
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def as_timestamps(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A column as UTC timestamps to the microsecond: ISO 8601 text is parsed, with a zone (`Z`, `+02:00`) or without
    (UTC); unreadable text (or a column mixing values with and without a zone) is read value by value, the unreadable
    ones null.

    Raises
    ------
    pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError
        When the column holds neither timestamps nor text.
    """
    if is_text(values.type):
        values = _parsed_times(values)
    if not pa.types.is_timestamp(values.type):
        values = pc.cast(values, pa.timestamp("us"))
    if values.type.tz is None:
        values = pc.assume_timezone(values, "UTC")
    # kept to the microsecond, finer digits cut (pandas writes nanoseconds): Glue's, Athena's and Python's unit
    return pc.cast(values, options=pc.CastOptions(target_type=pa.timestamp("us", tz="UTC"), allow_time_truncate=True))


def column_times(table: pa.Table, column: str, *, missing: str, field: str) -> pa.ChunkedArray:
    """A column of the table as UTC timestamps (see `as_timestamps`).

    Raises
    ------
    DataValidationError
        With `missing` when the column is absent, or naming it when it holds neither times nor text; `field`
        is the error's field.
    """
    if column not in table.column_names:
        raise DataValidationError(missing, field=field)
    try:
        return as_timestamps(table.column(column))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataValidationError(f"column '{column}' cannot be read as timestamps: {exc}", field=field) from exc


def _parsed_times(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    for zone in (None, "UTC"):  # every value without a zone, or every value with one
        try:
            return pc.cast(text, pa.timestamp("us", tz=zone))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    # one unreadable value fails the cast of all: the usual form is read at once, and each distinct other value by
    # itself (a zone, a fraction, a date alone), so that only what is no time is null
    usual = pc.assume_timezone(pc.strptime(text, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True), "UTC")
    others = pc.unique(pc.filter(text, pc.and_(pc.is_null(usual), pc.is_valid(text))))
    times = pa.array([_utc_time(value) for value in others.to_pylist()], pa.timestamp("us", tz="UTC"))
    return pc.coalesce(usual, pc.take(times, pc.index_in(text, value_set=others)))


def _utc_time(value: str | None) -> datetime | None:
    """ISO 8601 text as a UTC time (without a zone: UTC); None when it is none (or beyond years 1 to 9999 in UTC)."""
    try:
        at = datetime.fromisoformat(value.strip()) if value is not None else None
        return None if at is None else at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _oldest_first(timestamps: pa.ChunkedArray | None) -> np.ndarray:
    """The row numbers by time, oldest first (rows without a readable time count as oldest; ties keep their order).

    Raises
    ------
    DataValidationError
        Without the rows' timestamps.
    """
    if timestamps is None:
        raise DataValidationError("a time split needs the timestamps of the rows", field="data.timestamp_column")
    when = pc.fill_null(pc.cast(timestamps, pa.int64()), np.iinfo(np.int64).min).to_numpy()
    return np.argsort(when, kind="stable")


def _holdout_rows(table: pa.Table, spec: ModelSpec) -> np.ndarray:
    """The row numbers of the holdout, by the spec's split mode (`random` or `stratified`)."""
    rng = np.random.default_rng(spec.data.seed)
    fraction = spec.data.holdout_fraction
    if spec.data.split == "stratified":
        labels = np.asarray(table.column(spec.target).to_pylist(), dtype=object).astype(str)
        picked = [
            rows[: round(len(rows) * fraction)]
            for label in np.unique(labels)
            for rows in [rng.permutation(np.flatnonzero(labels == label))]
        ]
        return np.concatenate(picked) if picked else np.array([], dtype=np.int64)
    return rng.permutation(table.num_rows)[: round(table.num_rows * fraction)]


def split_holdout(
    table: pa.Table, spec: ModelSpec, timestamps: pa.ChunkedArray | None = None
) -> tuple[pa.Table, pa.Table]:
    """Deterministic train/holdout split by the spec's mode (`data.split`), seed and fraction.

    `random` draws the holdout at random; `stratified` draws each class's share of it; `time` takes
    the newest rows by `timestamps` (one per row), so the model is judged on the future, and puts both
    sides oldest first, so that cross-validation can keep each fold's future out of its training rows.
    Each row lands in exactly one of the two.
    """
    if spec.data.split == "time":
        order = _oldest_first(timestamps)
        trained = table.num_rows - round(table.num_rows * spec.data.holdout_fraction)
        return table.take(pa.array(order[:trained])), table.take(pa.array(order[trained:]))
    in_holdout = np.zeros(table.num_rows, dtype=bool)
    in_holdout[_holdout_rows(table, spec)] = True
    return table.filter(pa.array(~in_holdout)), table.filter(pa.array(in_holdout))


# A row's identity, whatever file or position it comes in: what a champion trained on is known by these.
_NULL_TEXT = np.uint64(0x6E756C6C)  # a missing text's hash ("null"); a missing number is NaN


def _mixed(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise: every input bit moves about half the output bits."""
    values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def _value_hashes(column: pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash per value: a number by its float64 bits (-0.0 as 0.0, every NaN and null alike), any other
    value by the BLAKE2b of its text (its bytes), computed once per distinct value."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        numbers = pc.fill_null(column.cast(pa.float64(), safe=False), np.nan).to_numpy() + 0.0
        numbers[np.isnan(numbers)] = np.nan
        return numbers.view(np.uint64)
    encoded = pc.dictionary_encode(column).combine_chunks()
    distinct = np.array(
        [
            int.from_bytes(hashlib.blake2b(_bytes(value), digest_size=8).digest(), "big")
            for value in encoded.dictionary.to_pylist()
        ],
        dtype=np.uint64,
    )
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return np.where(indices >= 0, distinct[np.maximum(indices, 0)] if len(distinct) else _NULL_TEXT, _NULL_TEXT)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def row_hashes(table: pa.Table, columns: Collection[str]) -> np.ndarray:
    """A 64-bit hash of each row's values in `columns` (in name order): the same values, the same hash, in any
    file, position or column order. Two distinct rows of ten million share one with odds of about 3 in a million."""
    hashes = np.full(table.num_rows, np.uint64(len(columns)), dtype=np.uint64)
    for name in sorted(columns):
        hashes = _mixed(hashes ^ _mixed(_value_hashes(table.column(name))))
    return hashes
