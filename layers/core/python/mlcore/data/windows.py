"""Windows of captured traffic and its feedback, read back from their Parquet partitions (pyarrow)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlcore.catalog import CAPTURE, FEEDBACK, partition
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore


def _days(start: datetime, end: datetime) -> list[date]:
    return [(start + timedelta(days=d)).date() for d in range((end.date() - start.date()).days + 1)]


def read_parquet_window(store: ObjectStore, kind: str, model_name: str, start: datetime, end: datetime) -> Any:
    """The rows of Parquet files under `<kind>/model=<name>/dt=...` for the days in [start, end] (a pyarrow Table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [
        pq.read_table(io.BytesIO(store.get(key)))
        for day in _days(start, end)
        for key in store.list_keys(partition(kind, model_name, day))  # by name: in the order they were written
        if key.endswith(".parquet")
    ]
    if not tables:
        return None
    try:
        return pa.concat_tables(tables, promote_options="default")
    except pa.ArrowTypeError:  # a feature retyped between versions: its newest type, as the newest version reads it
        return pa.concat_tables(_newest_types(tables), promote_options="default")


def _newest_types(tables: list[Any]) -> list[Any]:
    """The tables with each column in the type its newest file gives it: a value the older type cannot be read as
    (a category in a now numeric column) is null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    newest = {field.name: field.type for table in tables for field in table.schema}  # the last file's wins

    def read_as(column: Any, wanted: Any) -> Any:
        if column.type == wanted or pa.types.is_null(column.type):
            return column
        try:
            return pc.cast(column, wanted)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.nulls(len(column), wanted)

    return [
        pa.table({name: read_as(table.column(name), newest[name]) for name in table.column_names}) for table in tables
    ]


def capture_window(store: ObjectStore, model_name: str, start: datetime, end: datetime) -> Any:
    """The captured rows served in [start, end] (a pyarrow Table), or None when there are none."""
    import pyarrow.compute as pc

    table = read_parquet_window(store, CAPTURE, model_name, start, end)
    if table is None:
        return None
    at = table.column("captured_at")
    return table.filter(pc.and_(pc.greater_equal(at, start), pc.less_equal(at, end)))


def _first_labels(store: ObjectStore, model_name: str, window: Any, start: datetime, end: datetime) -> Any:
    """For each row of `window`, its first label in the feedback read up to `end` (None where there is none).

    The first label received for a row wins: a later one for the same row cannot rewrite what was recorded
    (to fake or hide a degradation).
    """
    feedback = read_parquet_window(store, FEEDBACK, model_name, start, end)
    if window is None or feedback is None:
        return None
    feedback = feedback.sort_by([("received_at", "ascending")]).select(["request_id", "row_index", "label"])
    first: dict[tuple[Any, Any], Any] = {}
    for r, i, label in zip(*(feedback.column(c).to_pylist() for c in feedback.column_names), strict=True):
        first.setdefault((r, i), label)
    keys = zip(window.column("request_id").to_pylist(), window.column("row_index").to_pylist(), strict=True)
    return [first.get(key) for key in keys]


def labelled_window(store: ObjectStore, model_name: str, window: Any, start: datetime, end: datetime) -> Any:
    """The captured rows of `window` that have feedback: `prediction` and `label` (a pyarrow Table), or None.

    Feedback may arrive after the window (it is read up to `end`); the first label for a row wins.
    """
    import pyarrow as pa

    labels = _first_labels(store, model_name, window, start, end)
    if labels is None:
        return None
    score = window.column("score") if "score" in window.column_names else pa.nulls(window.num_rows, pa.float64())
    joined = pa.table({"prediction": window.column("prediction"), "score": score, "label": pa.array(labels)})
    return joined.filter(joined.column("label").is_valid())


def labelled_rows(store: ObjectStore, spec: ModelSpec, start: datetime, end: datetime) -> Any:
    """The rows served in [start, end] that have a label (a Table), or None.

    Columns: `request_id`, `row_index`, the spec's target (the first label), `captured_at` and the
    spec's features. With `retrain.include_feedback`, the pipeline adds these rows to the dataset.
    """
    import pyarrow as pa

    window = capture_window(store, spec.name, start, end)
    labels = _first_labels(store, spec.name, window, start, end)
    if labels is None:
        return None
    features = {
        f.name: window.column(f.name) if f.name in window.column_names else pa.nulls(window.num_rows)
        for f in spec.features
    }
    table = pa.table(
        {
            "request_id": window.column("request_id"),
            "row_index": window.column("row_index"),
            spec.target: pa.array(labels),
            "captured_at": window.column("captured_at"),
            **features,
        }
    )
    labelled = table.filter(table.column(spec.target).is_valid())
    return labelled if labelled.num_rows else None


def read_window(
    store: ObjectStore, model_name: str, feature_names: list[str], *, hours: int, now: datetime | None = None
) -> tuple[dict[str, list[Any]], list[Any], list[int]]:
    """Captured rows of the last `hours`: feature columns, predictions and the serving versions."""
    now = now or datetime.now(UTC)
    table = capture_window(store, model_name, now - timedelta(hours=hours), now)
    if table is None:
        return {name: [] for name in feature_names}, [], []
    columns = {name: table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows
               for name in feature_names}  # fmt: skip
    return columns, table.column("prediction").to_pylist(), table.column("model_version").to_pylist()
