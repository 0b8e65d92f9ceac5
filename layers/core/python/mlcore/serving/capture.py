"""Capture of served traffic: buffered in the function, written as Parquet partitioned by model and date.

Batched writes rather than Firehose: one S3 PUT per flush of up to `max_rows` rows (or `max_age`
seconds), with no extra service, stream or Glue schema per model; each file appears atomically
under `capture/model=<name>/dt=<YYYY-MM-DD>/`, the layout Athena and the monitor read. A request
only appends to a buffer; a failed write keeps the rows for the next flush (up to a bound, beyond
which the oldest are dropped and counted), so capture never fails a prediction. The predict
function flushes on SIGTERM at shutdown.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from mlcore.catalog import CAPTURE, LABEL, META_COLUMNS, OUTPUT_COLUMNS, limits, partition_file
from mlcore.serving.parquet import write_parquet
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

logger = logging.getLogger(__name__)


def label_kind(spec: ModelSpec) -> str:
    """The Parquet kind of a model's output: class labels are strings, regressors' numbers doubles."""
    return "string" if spec.task == "classification" else "double"


def capture_schema(spec: ModelSpec) -> list[tuple[str, str]]:
    """The columns of a model's captured traffic after `META_COLUMNS`: its features, then `OUTPUT_COLUMNS`."""
    features = [(f.name, "double" if f.is_numeric else "string") for f in spec.features]
    outputs = [(name, label_kind(spec) if kind == LABEL else kind) for name, kind in OUTPUT_COLUMNS]
    return [*features, *outputs]


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
        max_rows: int = limits.CAPTURE_MAX_ROWS,
        max_age_seconds: float = limits.CAPTURE_MAX_AGE_SECONDS,
        max_buffered_rows: int = limits.CAPTURE_MAX_BUFFERED_ROWS,
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
                key = partition_file(CAPTURE, model_name, day, datetime.now(UTC), uuid.uuid4().hex[:12])
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
