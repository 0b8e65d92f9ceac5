"""Capture of served traffic: buffered in the function, written as Parquet partitioned by model and date.

Batched writes rather than Firehose: one S3 PUT per flush of up to `max_rows` rows (or `max_age`
seconds), with no extra service, stream or Glue schema per model; each file appears atomically
under `capture/model=<name>/dt=<YYYY-MM-DD>/`, the layout Athena and the monitor read. A request
only appends to a buffer; a failed write keeps the rows for the next flush (up to a bound, beyond
which the oldest are dropped and counted), so capture never fails a prediction. The predict
function flushes on SIGTERM at shutdown.
"""

from __future__ import annotations

import io
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlcore.parquet import write_parquet
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

logger = logging.getLogger(__name__)
PREFIX = "capture"
FEEDBACK_PREFIX = "feedback"
# Columns every capture file has besides the model's features.
META_COLUMNS = (
    ("request_id", "string"),
    ("captured_at", "timestamp_ms"),
    ("row_index", "int64"),
    ("model_version", "int64"),
    ("variant", "string"),
    ("latency_ms", "double"),
)


def partition(prefix: str, model_name: str, day: date) -> str:
    return f"{prefix}/model={model_name}/dt={day:%Y-%m-%d}/"


def capture_schema(spec: ModelSpec) -> list[tuple[str, str]]:
    """The columns of a model's captured traffic after `META_COLUMNS`: its features and the outputs."""
    prediction = "string" if spec.task == "classification" else "double"
    features = [(f.name, "double" if f.is_numeric else "string") for f in spec.features]
    # `score`: for classifiers the probability of the positive (second) class, or of the predicted one
    # beyond two classes, so live ROC AUC can be measured once labels arrive.
    outputs = [("prediction", prediction), ("score", "double")]
    return [*features, *outputs, ("shadow_version", "int64"), ("shadow_prediction", prediction)]


def capture_rows(
    *,
    spec: ModelSpec,
    request_id: str,
    captured_at: datetime,
    version: int,
    variant: str,
    latency_ms: float,
    values: dict[str, list[Any]],
    labels: list[Any],
    scores: list[float] | None = None,
    shadow_version: int | None = None,
    shadow_labels: list[Any] | None = None,
) -> list[tuple[Any, ...]]:
    """One row per served row, in `META_COLUMNS` + `capture_schema(spec)` order."""
    at = int(captured_at.timestamp() * 1000)
    shadow = shadow_labels or [None] * len(labels)
    score: list[float | None] = list(scores) if scores else [None] * len(labels)
    columns = [values[f.name] for f in spec.features]
    return [
        (request_id, at, i, version, variant, latency_ms, *features, labels[i], score[i], shadow_version, shadow[i])
        for i, features in enumerate(zip(*columns, strict=True))
    ]


@dataclass
class _Buffer:
    """Rows of one model waiting to be written (one schema per model)."""

    schema: list[tuple[str, str]]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    since: float = 0.0


class CaptureBuffer:
    """Buffers captured rows per model and writes them to S3 as Parquet."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        max_rows: int = 1000,
        max_age_seconds: float = 30.0,
        max_buffered_rows: int = 50_000,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_rows = max_rows
        self.max_age = max_age_seconds
        self.max_buffered = max_buffered_rows
        self.rng = rng or random.Random()
        self.clock = clock
        self.dropped = 0
        self.written = 0
        self._buffers: dict[str, _Buffer] = {}
        self._lock = threading.Lock()

    def sampled(self, rate: float) -> bool:
        return rate >= 1.0 or self.rng.random() < rate

    def add(
        self,
        model_name: str,
        schema: list[tuple[str, str]],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """Append rows (values in `META_COLUMNS` + `schema` order) and write the buffer when it is due."""
        with self._lock:
            buffer = self._buffers.get(model_name)
            if buffer is None or buffer.schema != schema:
                if buffer is not None and buffer.rows:
                    self._write(model_name, buffer)
                buffer = self._buffers[model_name] = _Buffer(schema, since=self.clock())
            if not buffer.rows:
                buffer.since = self.clock()
            buffer.rows.extend(rows)
            if len(buffer.rows) >= self.max_rows or self.clock() - buffer.since >= self.max_age:
                self._write(model_name, buffer)

    def flush(self) -> int:
        """Write every buffer now (shutdown, tests); returns the rows written."""
        with self._lock:
            before = self.written
            for name, buffer in self._buffers.items():
                if buffer.rows:
                    self._write(name, buffer)
            return self.written - before

    def pending(self) -> int:
        return sum(len(b.rows) for b in self._buffers.values())

    def _write(self, model_name: str, buffer: _Buffer) -> None:
        rows, buffer.rows = buffer.rows, []
        columns = [*META_COLUMNS, *buffer.schema]
        by_day: dict[date, list[tuple[Any, ...]]] = {}
        for row in rows:  # the partition is the day the row was served (a buffer may straddle midnight)
            by_day.setdefault(datetime.fromtimestamp(row[1] / 1000, UTC).date(), []).append(row)
        unwritten: list[tuple[Any, ...]] = []
        for day, day_rows in by_day.items():
            try:
                data = write_parquet([(n, kind, [row[i] for row in day_rows]) for i, (n, kind) in enumerate(columns)])
                key = (
                    f"{partition(PREFIX, model_name, day)}{datetime.now(UTC):%H%M%S%f}-{uuid.uuid4().hex[:12]}.parquet"
                )
                self.store.put(key, data, "application/vnd.apache.parquet")
            except Exception:  # a capture failure must not fail the prediction; keep the rows for the next flush
                logger.exception("capture write failed", extra={"model": model_name, "rows": len(day_rows)})
                unwritten.extend(day_rows)
                continue
            self.written += len(day_rows)
        if unwritten:
            keep = unwritten[-self.max_buffered :]
            self.dropped += len(unwritten) - len(keep)
            buffer.rows = keep + buffer.rows
        buffer.since = self.clock()


def _days(start: datetime, end: datetime) -> list[date]:
    return [(start + timedelta(days=d)).date() for d in range((end.date() - start.date()).days + 1)]


def read_parquet_window(store: ObjectStore, prefix: str, model_name: str, start: datetime, end: datetime) -> Any:
    """The rows of Parquet files under `<prefix>/model=<name>/dt=...` for the days in [start, end] (a pyarrow Table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [
        pq.read_table(io.BytesIO(store.get(key)))
        for day in _days(start, end)
        for key in store.list_keys(partition(prefix, model_name, day))
        if key.endswith(".parquet")
    ]
    return pa.concat_tables(tables, promote_options="default") if tables else None


def capture_window(store: ObjectStore, model_name: str, start: datetime, end: datetime) -> Any:
    """The captured rows served in [start, end] (a pyarrow Table), or None when there are none."""
    import pyarrow.compute as pc

    table = read_parquet_window(store, PREFIX, model_name, start, end)
    if table is None:
        return None
    at = table.column("captured_at")
    return table.filter(pc.and_(pc.greater_equal(at, start), pc.less_equal(at, end)))


def labelled_window(store: ObjectStore, model_name: str, window: Any, start: datetime, end: datetime) -> Any:
    """The captured rows of `window` that have feedback: `prediction` and `label` (a pyarrow Table), or None.

    Feedback may arrive after the window (it is read up to `end`); the latest label for a row wins.
    """
    feedback = read_parquet_window(store, FEEDBACK_PREFIX, model_name, start, end)
    if window is None or feedback is None:
        return None
    feedback = feedback.sort_by([("received_at", "ascending")]).select(["request_id", "row_index", "label"])
    latest = {
        (r, i): label
        for r, i, label in zip(*(feedback.column(c).to_pylist() for c in feedback.column_names), strict=True)
    }
    keys = zip(window.column("request_id").to_pylist(), window.column("row_index").to_pylist(), strict=True)
    labels = [latest.get(key) for key in keys]
    import pyarrow as pa

    score = window.column("score") if "score" in window.column_names else pa.nulls(window.num_rows, pa.float64())
    joined = pa.table({"prediction": window.column("prediction"), "score": score, "label": pa.array(labels)})
    return joined.filter(joined.column("label").is_valid())


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
