"""One chunk of a batch: its files read with the spec's types, rows checked as the API checks them, scored.

Rows are checked column by column in Arrow and numpy; a row that any column doubts is checked again
by the API's own validator, alone, which either accepts it or gives the reason it is refused. So a
batch accepts exactly the rows the API would, at bulk speed when most rows are clean. Refused rows
go to the chunk's rejects file with their reason; none is dropped silently.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlcore.batch.plan import WITHDRAWN_FILE, failure_file, read_plan, result_file, work_file
from mlcore.catalog import (
    BATCH_OUTPUT_COLUMNS,
    ChunkResult,
    SignatureField,
    batch_predictions_key,
    batch_rejects_key,
    limits,
)
from mlcore.data import (
    NULL_SPELLINGS,
    OfflineFile,
    column_times,
    file_columns,
    is_text,
    iter_file,
    join_view,
    named_like,
    offline_files,
    read_dataset_file,
)
from mlcore.errors import ArtifactIntegrityError, BadRequestError, BatchScoringError, DataValidationError
from mlcore.registry import Registry
from mlcore.serving import (
    FLOAT,
    InputValidator,
    OnnxModel,
    bounds,
    class_scores,
    fractions,
    load_served_model,
    tensors_from_columns,
    version_spec,
)
from mlcore.spec import ModelSpec, Task
from mlcore.storage import ObjectStore


@dataclass(frozen=True)
class Reject:
    """A row the API would refuse: the field at fault, the API's message, and the row's feature values."""

    field: str
    reason: str
    record: dict[str, Any]


@dataclass
class RowCheck:
    """Which rows of a table the API would accept, the model inputs of those rows, and why the others fail."""

    valid: np.ndarray  # bool, one per row
    tensors: dict[str, np.ndarray]  # of the valid rows: float32 (NaN if missing) or text ("" if missing), (n, 1)
    rejects: dict[int, Reject] = field(default_factory=dict)


# A CSV cell Arrow reads as a float64 (a numeric feature's column stays text when any cell is not a number).
NUMBER_TEXT = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$"
NUMBER_PATTERN = re.compile(NUMBER_TEXT)


def _numbers(column: pa.ChunkedArray, signature: SignatureField) -> tuple[np.ndarray, np.ndarray] | None:
    """A numeric feature as float64 (NaN for null) and where it is surely valid; None for a column neither of
    numbers nor of text. In a text column (a CSV's with a cell that is not a number) each cell that is a number
    counts as one, and the others are doubted: the API refuses each such row alone, not the whole column."""
    text = None
    if is_text(column.type):
        text = pc.match_substring_regex(column, NUMBER_TEXT)  # null for a missing value
        column = pc.if_else(text, column, pa.scalar(None, column.type))
    elif not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return None
    values = np.array(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    low, high = bounds(signature)
    with np.errstate(invalid="ignore"):
        ok = (values >= low) & (values <= high)  # NaN (null) fails both
        if signature.integer:
            ok &= ~fractions(values)  # a fraction: the API refuses it, and says why
    if signature.nullable:
        ok |= np.isnan(values)
    if text is not None:
        ok &= pc.fill_null(text, True).to_numpy(zero_copy_only=False)  # a cell of words: the API says why not
    return values, ok


def _texts(column: pa.ChunkedArray, signature: SignatureField) -> tuple[np.ndarray, np.ndarray] | None:
    """A categorical feature as objects (None for null) and where it is surely valid; None for a column not of text."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not is_text(column.type):
        return None
    if signature.categories is not None:
        known = pc.is_in(column, value_set=pa.array(signature.categories, pa.string()))
    else:
        known = pc.string_is_ascii(column)  # the API's quick test; other text it checks value by value
    ok = pc.fill_null(known, signature.nullable).to_numpy(zero_copy_only=False)
    return np.array(column.to_numpy(zero_copy_only=False), dtype=object), ok


def _numbers_from_text(records: list[dict[str, Any]], signature: list[SignatureField]) -> None:
    """A doubted row's numeric features as numbers where a CSV's text cell is one (as `_numbers` counted it)."""
    numeric = [field.name for field in signature if field.type == FLOAT]
    for record in records:
        for name in numeric:
            value = record.get(name)
            if isinstance(value, str) and NUMBER_PATTERN.fullmatch(value):
                record[name] = float(value)


def check_rows(table: pa.Table, validator: InputValidator) -> RowCheck:
    """The rows of `table` the API would accept, their model inputs, and the reason for each other row."""
    rows = table.num_rows
    valid = np.ones(rows, dtype=bool)
    columns: dict[str, np.ndarray] = {}
    for signature in validator.signature:
        numeric = signature.type == FLOAT
        checked = None
        if signature.name in table.column_names:
            checked = (_numbers if numeric else _texts)(table.column(signature.name), signature)
        if checked is None:  # missing (null in every row), or of a type the API refuses: each row asks the API
            empty = np.full(rows, np.nan) if numeric else np.full(rows, None, dtype=object)
            checked = empty, np.full(rows, signature.nullable and signature.name not in table.column_names)
        columns[signature.name] = checked[0]
        valid &= checked[1]
    rejects: dict[int, Reject] = {}
    doubted = np.flatnonzero(~valid)
    if len(doubted):
        present = [s.name for s in validator.signature if s.name in table.column_names]
        records = table.select(present).take(pa.array(doubted)).to_pylist()
        _numbers_from_text(records, validator.signature)
        for row, record in zip(doubted.tolist(), records, strict=True):
            try:
                accepted = validator([record], 1)
            except BadRequestError as error:  # the API's reason, without its `instances[0].` prefix
                where = (error.field or "").removeprefix("instances[0].")
                rejects[row] = Reject(where, str(error).removeprefix("instances[0]."), record)
                continue
            valid[row] = True
            for name, tensor in accepted.tensors.items():
                columns[name][row] = tensor[0, 0]
    kept = {name: column[valid] for name, column in columns.items()}
    return RowCheck(valid, tensors_from_columns(kept, validator.signature), rejects)


def available_cpus() -> int:
    """The CPUs this process may run on (Linux: its affinity; elsewhere every CPU of the machine)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _json_safe(value: Any) -> Any:
    """A value for a rejects line: JSON has no NaN nor infinity, so they are written as text (`"inf"`, `"nan"`),
    never as a null the row did not hold."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class ChunkWriter:
    """Scores a chunk's tables into local files: its predictions (Parquet, a row group per table) and rejects
    (JSON lines); memory holds one table at a time, whatever the chunk's size."""

    def __init__(self, spec: ModelSpec, keep: pa.Schema, model: OnnxModel, version: int, folder: str) -> None:
        label = pa.string() if spec.task is Task.CLASSIFICATION else pa.float64()
        kinds = {"string": pa.string(), "int64": pa.int64(), "double": pa.float64()}
        fields = [pa.field(name, label if name == "prediction" else kinds[kind]) for name, kind in BATCH_OUTPUT_COLUMNS]
        self.schema = pa.schema([*fields[:3], *keep, *fields[3:]])
        self.spec, self.keep, self.model, self.version = spec, keep, model, version
        self.predictions_path = os.path.join(folder, "predictions.parquet")
        self.rejects_path = os.path.join(folder, "rejects.jsonl")
        # row ids are all distinct: a dictionary only costs time; the repeated names and labels keep one
        repeated = [name for name in ("model_name", "prediction") if name in self.schema.names]
        self.writer = pq.ParquetWriter(self.predictions_path, self.schema, compression="zstd", use_dictionary=repeated)
        self.rejects = open(self.rejects_path, "w", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self.scored = self.rejected = 0

    def score(
        self,
        table: pa.Table,
        relative: str,
        first_row: int = 0,
        joined: Collection[str] = (),
        untimed: np.ndarray | None = None,
    ) -> int:
        """Score rows of one file (`relative`: its path in the batch's input; `first_row`: the file's row number
        of the table's first row, which row ids count from; `joined`: the features its views gave; `untimed`: the
        rows `with_view_features` found without a time); returns the rows scored."""
        checked = check_rows(table, self.model.validate)
        self._from_views(checked, table, joined)
        self._untimed(checked, table, joined, untimed)
        row_ids = pc.binary_join_element_wise(
            f"{relative}:", pc.cast(pa.array(np.arange(first_row, first_row + table.num_rows)), pa.string()), ""
        )
        refused = sorted(checked.rejects)
        # a refused row's kept columns (an id, say), so that it can be found and sent again once corrected
        identities: list[dict[str, Any]] = [{}] * len(refused)  # (a table of no columns takes no rows)
        if refused and self.keep.names:
            identities = table.select(self.keep.names).take(pa.array(refused, pa.int64())).to_pylist()
        for row, ids in zip(refused, identities, strict=True):
            reject = checked.rejects[row]
            values = {name: _json_safe(value) for name, value in reject.record.items()}
            line = {"row_id": row_ids[row].as_py(), "field": reject.field, "reason": reject.reason, "row": values}
            if ids:
                line["kept"] = {name: _json_safe(value) for name, value in ids.items()}
            self.rejects.write(json.dumps(line, default=str) + "\n")
        self.rejected += len(checked.rejects)
        kept = int(checked.valid.sum())
        if not kept:
            return 0
        outputs = self.model.predict(checked.tensors)
        labels, scores = outputs["label"], class_scores(outputs.get("probabilities"))
        valid = pa.array(checked.valid)
        columns = {
            "model_name": pa.array([self.spec.name] * kept, pa.string()),
            "model_version": pa.array(np.full(kept, self.version, dtype=np.int64)),
            "row_id": row_ids.filter(valid),
            **{name: self._kept(table.column(name).filter(valid), name, relative) for name in self.keep.names},
            "prediction": labels.astype(str) if self.spec.task is Task.CLASSIFICATION else labels.astype(np.float64),
            "score": pa.array(scores if scores is not None else [None] * kept, pa.float64()),
        }
        self.writer.write_table(pa.table({name: columns[name] for name in self.schema.names}, schema=self.schema))
        self.scored += kept
        return kept

    def _from_views(self, checked: RowCheck, table: pa.Table, joined: Collection[str]) -> None:
        """A row refused for a feature its view had no value for says so, with the entity's key, as the API says."""
        for row, reject in checked.rejects.items():
            if reject.field not in joined or reject.record.get(reject.field) is not None:
                continue
            view, binding = next((v, b) for v, b in self.spec.views.items() if reject.field in b.features)
            keys = {entity: table.column(entity)[row].as_py() for entity in binding.entities}
            absent = next((name for name, value in keys.items() if value in (None, "")), None)
            if absent is not None:  # as the API says it
                reason = f"{absent}: is missing: the entity key of feature view '{view}'"
                checked.rejects[row] = Reject(absent, reason, {**keys, **reject.record})
                continue
            entity = ", ".join(f"{name} {value!r}" for name, value in keys.items())
            reason = (
                f"{reject.field}: feature view '{view}' has no value for {entity} within its ttl of "
                f"{binding.ttl_hours:g} h before the row's time: send the feature, or ingest the view"
            )
            checked.rejects[row] = Reject(reject.field, reason, {**keys, **reject.record})

    def _untimed(self, checked: RowCheck, table: pa.Table, joined: Collection[str], rows: np.ndarray | None) -> None:
        """A row whose time cell is empty (`rows`), in a file that has the time column, is refused: its features from
        views would be read as of the batch's time, a moment it may be long before (a value from its future)."""
        column = self.spec.data.timestamp_column
        if rows is None or column is None:
            return
        reason = f"{column}: is empty: the features from views are read as of a row's time (data.timestamp_column)"
        keys = [e for v, b in self.spec.views.items() if set(b.features) & set(joined) for e in b.entities]
        records = table.select([column, *dict.fromkeys(k for k in keys if k in table.column_names)])
        for row, record in zip(rows.tolist(), records.take(pa.array(rows)).to_pylist(), strict=True):
            checked.rejects[row] = Reject(column, reason, record)
        had_tensors = checked.valid.copy()
        checked.valid[rows] = False
        keep = checked.valid[had_tensors]  # of the rows the tensors hold, those still scored
        checked.tensors = {name: tensor[keep] for name, tensor in checked.tensors.items()}

    def _kept(self, column: pa.ChunkedArray, name: str, relative: str) -> pa.ChunkedArray:
        """A kept column in the chunk's one type, its first file's: a width may change (int32 to int64), never text
        to a number or back (a CSV's `02134` would become 2134 in silence).

        Raises
        ------
        DataValidationError
            Naming the column, the file and both types.
        """
        wanted = self.keep.field(name).type
        if column.type == wanted:
            return column
        cause: Exception | None = None
        if is_text(column.type) == is_text(wanted):
            try:
                return column.cast(wanted)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                cause = exc
        raise DataValidationError(
            f"batch.keep_columns: {name} is {column.type} in {relative} but {wanted} in the chunk's first file: "
            "a kept column has one type in a batch (a CSV gives it as text: keep a batch's files in one format)"
        ) from cause

    def close(self) -> tuple[str | None, str | None]:
        """The files written: the predictions' (None without a scored row) and the rejects' (None without one)."""
        self.writer.close()
        self.rejects.close()
        return (self.predictions_path if self.scored else None), (self.rejects_path if self.rejected else None)


def _glue_type(column: pa.Field) -> str:
    """The Glue (Hive) type of a predictions column."""
    kind = column.type
    simple = {
        pa.string(): "string", pa.large_string(): "string", pa.int64(): "bigint", pa.int32(): "int",
        pa.int16(): "smallint", pa.int8(): "tinyint", pa.float64(): "double", pa.float32(): "float",
        pa.bool_(): "boolean", pa.date32(): "date",
    }  # fmt: skip
    if kind in simple:
        return simple[kind]
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_decimal(kind):
        return f"decimal({kind.precision},{kind.scale})"
    raise DataValidationError(f"batch.keep_columns: column {column.name!r} is of type {kind}, which Glue cannot hold")


def with_view_features(
    table: pa.Table,
    key: str,
    spec: ModelSpec,
    *,
    data: ObjectStore,
    as_of: datetime,
    cache: dict[tuple[Any, ...], Any],
    listed: Mapping[str, list[OfflineFile]] | None = None,
) -> tuple[pa.Table, np.ndarray | None]:
    """A batch file's rows with the features the model takes from views and the file does not carry, joined from
    the views' offline stores as of each row's time (its `data.timestamp_column` when the file has it, else the
    batch's planned time), within the TTL: a value from after that moment is never used, as at training. With
    them, the rows of a file that has the time column whose time cell is empty (None: no such row, or nothing
    joined), which scoring refuses: they were joined as of the batch's time, a moment after theirs may be.

    Raises
    ------
    DataValidationError
        When the file lacks a view's entity keys (and the features it would give).
    """
    wanted = {
        view: binding.model_copy(update={"features": [f for f in binding.features if f not in table.column_names]})
        for view, binding in spec.views.items()
    }
    # a file without a view's keys that leaves out only nullable features of it joins nothing: they are missing,
    # as the API takes such a row (a required one left out needs the keys, which the join names)
    wanted = {
        view: binding
        for view, binding in wanted.items()
        if spec.joins_view(
            binding, binding.features, keyed=all(entity in table.column_names for entity in binding.entities)
        )
    }
    if not wanted or table.num_rows == 0:  # an empty file (a header-only CSV) has nothing to join
        return table, None
    batch_time = pa.chunked_array([pa.array([as_of] * table.num_rows, pa.timestamp("us", tz="UTC"))])
    column = spec.data.timestamp_column
    times, untimed = batch_time, None
    if column is not None and column in table.column_names:
        own = column_times(table, column, missing="", field="data.timestamp_column")
        _readable_times(table.column(column), own, key, column)  # what is left without a time was empty
        times = pc.if_else(pc.is_null(own), batch_time, own)
        untimed = np.flatnonzero(pc.is_null(own).to_numpy(zero_copy_only=False))
    for view, binding in wanted.items():
        table, _ = join_view(
            table, times, view, binding, spec=spec, data=data, rows_are=f"rows of {key}", cache=cache, listed=listed
        )
    return table, untimed if untimed is not None and len(untimed) else None


def _readable_times(written: pa.ChunkedArray, times: pa.ChunkedArray, key: str, column: str) -> None:
    """A row's features from views are read as of its time: a time written that is none fails the file, as it
    fails a training run, rather than read them as of the batch's time (a value from the row's future).

    Raises
    ------
    DataValidationError
        Naming the file, the column, how many rows and the first values.
    """
    written_some = pc.is_valid(written)
    if is_text(written.type):  # an empty cell, or a null's spelling (`NA`), is no time written: the batch's
        spelled = pc.utf8_trim_whitespace(written)
        written_some = pc.and_(written_some, pc.invert(pc.is_in(spelled, value_set=pa.array(NULL_SPELLINGS))))
    unreadable = pc.and_(pc.is_null(times), written_some)
    count = pc.sum(unreadable).as_py() or 0
    if count:
        first = pc.filter(written, unreadable).slice(0, 3).to_pylist()
        raise DataValidationError(
            f"rows of {key}: {count} values of {column} are no time ({', '.join(map(repr, first))}): a row's "
            "features from feature views are read as of its time (ISO 8601, as 2026-03-10T12:00:00Z)",
            field="data.timestamp_column",
        )


def _keep_schema(table: pa.Table, keep_columns: list[str], key: str, local: str) -> pa.Schema:
    missing = [name for name in keep_columns if name not in table.column_names]
    if missing:
        raise DataValidationError(
            f"batch.keep_columns {missing} are not columns of {key}{named_like(missing[0], file_columns(local, key))}"
        )
    # text is written as Parquet's one string type, whichever Arrow read (a pandas file's large_string, a CSV's
    # string): a folder of the batches' files reads as one dataset
    fields = [table.schema.field(name) for name in keep_columns]
    return pa.schema([field.with_type(pa.string()) if is_text(field.type) else field for field in fields])


def _check_features(table: pa.Table, model: OnnxModel, key: str, local: str, joined: Collection[str]) -> None:
    """A file without a column of a feature that may not be null is refused as a whole: every row of it would be.
    The features the views give (`joined`) are the views' to check: the join names a missing entity key."""
    missing = [
        f.name for f in model.signature if not f.nullable and f.name not in table.column_names and f.name not in joined
    ]
    if not missing or table.num_rows == 0:  # a header-only file refuses no row
        return
    raise DataValidationError(
        f"{key} has no column {missing[0]!r}{named_like(missing[0], file_columns(local, key))}, a feature of the "
        "model that may not be null"
        + (f"; nor {missing[1:]}" if missing[1:] else "")
        + "; a nullable feature may be left out"
    )


def _input_columns(spec: ModelSpec, keep_columns: list[str]) -> set[str]:
    """The columns of an input file a batch reads: the features, the kept columns, the views' keys and the time."""
    entities = (entity for binding in spec.views.values() for entity in binding.entities)
    time_column = [spec.data.timestamp_column] if spec.data.timestamp_column else []
    return {*spec.feature_names, *keep_columns, *entities, *time_column}


def _file_tables(
    local: str, key: str, relative: str, spec: ModelSpec, batch_rows: int, *, columns: set[str], text: set[str]
) -> Iterator[pa.Table]:
    """A downloaded input file's `columns`, a batch of rows at a time (a CSV's `text` columns as written); a file
    without rows as one empty table (its columns are still checked against `batch.keep_columns`)."""
    empty = True
    for table in iter_file(local, key, relative, spec, batch_rows, columns=columns, text=text):
        empty = False
        yield table
    if empty:
        with open(local, "rb") as source:
            table = read_dataset_file(source.read(), key, relative, spec)  # no rows: a header's or a footer's bytes
        if key.endswith((".csv", ".csv.gz")):  # its text columns as its rows would have had them
            fields = [pa.field(field.name, pa.string()) if field.name in text else field for field in table.schema]
            table = table.cast(pa.schema(fields))
        yield table


def score_chunk(
    plan_key: str,
    chunk: str,
    *,
    registry: Registry,
    artifacts: ObjectStore,
    data: ObjectStore,
    batch_rows: int = limits.READ_BATCH_ROWS,
) -> ChunkResult:
    """The scoring job: score one chunk of a batch, write its predictions, rejects and result. Each file is
    streamed to local disk and scored `batch_rows` rows at a time; the outputs are written to disk and uploaded
    (in parts when large), so memory stays at a batch's, whatever the size of the files.

    Raises
    ------
    ArtifactIntegrityError
        When the model's bytes do not match the SHA-256 the plan and the registry recorded.
    DataValidationError
        For a file that cannot be read, or that lacks a column of `batch.keep_columns`.
    """
    started = time.monotonic()
    plan, files = read_plan(data, plan_key)
    keys = files[chunk]
    version = registry.get_version(plan.model_name, plan.version)
    if version.artifacts["model"].sha256 != plan.model_sha256:
        raise ArtifactIntegrityError(
            f"version {plan.version} of {plan.model_name} has model SHA-256 {version.artifacts['model'].sha256[:12]}…, "
            f"the batch was planned with {plan.model_sha256[:12]}…"
        )
    # verifies the bytes' SHA-256; every vCPU of the job scores
    model: OnnxModel = load_served_model(version, artifacts, threads=available_cpus())
    spec = version_spec(registry.get_spec(plan.model_name), model.signature, version.views)
    writer: ChunkWriter | None = None
    read = 0
    as_of = datetime.fromisoformat(plan.created_at)
    offline: dict[tuple[Any, ...], Any] = {}  # the views' rows read once, for every file of the chunk
    predictions_key = rejects_key = None
    wanted = _input_columns(spec, plan.keep_columns)
    # a kept column the model does not read passes through: from a CSV, as written (ids keep their leading zeros,
    # and a value of another type later in the file is no error)
    as_written = set(plan.keep_columns) - _input_columns(spec, []) - {spec.target}
    listed = {view: offline_files(view, data) for view in spec.views}  # once: every batch joins the same files
    with tempfile.TemporaryDirectory() as folder:
        local = os.path.join(folder, "input")
        try:
            for key in keys:
                relative = key[len(plan.input) :]
                data.download(key, local)  # streamed to disk, then read a batch of rows at a time
                if not os.path.getsize(local):  # a file of no bytes (a writer's empty part) has no rows to score
                    continue
                first_row = 0
                for rows in _file_tables(local, key, relative, spec, batch_rows, columns=wanted, text=as_written):
                    table, untimed = with_view_features(
                        rows, key, spec, data=data, as_of=as_of, cache=offline, listed=listed
                    )
                    keep = _keep_schema(table, plan.keep_columns, key, local)
                    _check_features(table, model, key, local, spec.view_features)
                    writer = writer or ChunkWriter(spec, keep, model, plan.version, folder)
                    read += table.num_rows
                    writer.score(table, relative, first_row, set(table.column_names) - set(rows.column_names), untimed)
                    first_row += table.num_rows
        except BaseException:
            if writer is not None:  # its files are discarded: the chunk fails with what failed first
                with contextlib.suppress(Exception):
                    writer.close()
            raise
        predictions, rejects = writer.close() if writer is not None else (None, None)
        if data.list_keys(work_file(plan.plan_key, WITHDRAWN_FILE)):  # the batch failed while this chunk scored
            raise BatchScoringError(f"batch {plan.batch_id} failed and was withdrawn while chunk {chunk} scored")
        if predictions is not None:
            predictions_key = batch_predictions_key(plan.output, plan.batch_id, chunk)
            data.upload(predictions_key, predictions, content_type="application/vnd.apache.parquet")
        if rejects is not None:
            rejects_key = batch_rejects_key(plan.output, plan.batch_id, chunk)
            data.upload(rejects_key, rejects, content_type="application/x-ndjson")
    columns = [(column.name, _glue_type(column)) for column in writer.schema] if writer is not None else []
    scored = writer.scored if writer is not None else 0
    result = ChunkResult(
        chunk=chunk,
        files=len(keys),
        read=read,
        scored=scored,
        rejected=read - scored,
        predictions_key=predictions_key,
        rejects_key=rejects_key,
        seconds=round(time.monotonic() - started, 3),
        columns=columns,
    )
    data.put(work_file(plan.plan_key, result_file(chunk)), result.model_dump_json().encode(), "application/json")
    return result


def write_chunk_failure(data: ObjectStore, plan_key: str, chunk: str, error: BaseException) -> str:
    """What a scoring job failed with, beside the plan, where the publish step looks for it."""
    key = work_file(plan_key, failure_file(chunk))
    message = getattr(error, "message", None) or str(error)
    data.put(key, json.dumps({"error_type": type(error).__name__, "message": message}).encode(), "application/json")
    return key
