"""Capture of served traffic: buffered in the function, written as Parquet partitioned by model and date.

Batched writes rather than Firehose: one S3 PUT per flush of up to `max_rows` rows (or `max_age`
seconds), with no extra service, stream or Glue schema per model; each file appears atomically
under `capture/model=<name>/dt=<YYYY-MM-DD>/`, the layout Athena and the monitor read. A request
only appends to a buffer; a failed write keeps the rows for the next flush (up to a bound, beyond
which the oldest are dropped and counted), so capture never fails a prediction. With `background`,
a due buffer is encoded and written by one writer thread, so the request that fills it does not wait
for the Parquet encoding and the PUT (writes stay in order); the predict function flushes on SIGTERM
at shutdown, which waits for the writer first.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain
from typing import Any

import numpy as np

from mlcore.catalog import CAPTURE, LABEL, META_COLUMNS, OUTPUT_COLUMNS, SignatureField, limits, partition_file
from mlcore.serving.parquet import Runs, write_parquet
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

logger = logging.getLogger(__name__)


def label_kind(spec: ModelSpec) -> str:
    """The Parquet kind of a model's output: class labels are strings, regressors' numbers doubles."""
    return "string" if spec.task == "classification" else "double"


def input_kinds(signature: Sequence[SignatureField]) -> dict[str, str]:
    """A served version's inputs by name, with the Parquet kind each is captured as."""
    return {field.name: "double" if field.type == "float" else "string" for field in signature}


def capture_schema(spec: ModelSpec, inputs: Sequence[SignatureField] | None = None) -> list[tuple[str, str]]:
    """The columns of a model's captured traffic after `META_COLUMNS`: the features a request may carry (`inputs`:
    the serving versions', `Serving.request_signature`), then `OUTPUT_COLUMNS`. What the versions read, not what the
    spec says now: a feature the spec added since is in no request, and one it dropped is still the champion's
    input. Without `inputs`, the spec's features (a version trained on the spec as it is)."""
    if inputs is None:
        features = [(f.name, "double" if f.is_numeric else "string") for f in spec.features]
    else:
        features = list(input_kinds(inputs).items())
    outputs = [(name, label_kind(spec) if kind == LABEL else kind) for name, kind in OUTPUT_COLUMNS]
    return [*features, *outputs]


@dataclass
class CaptureBatch:
    """The captured rows of one request, column by column (in `META_COLUMNS` + `capture_schema` order).

    A column is a list (`None` for null), a float64 array (NaN for null), or `Runs` for a value the request has on
    every row (its id); all rows share a day.
    """

    day: date
    rows: int
    columns: list[Any]

    def tail(self, rows: int) -> CaptureBatch:
        """The last `rows` rows."""
        return CaptureBatch(self.day, rows, [column[len(column) - rows :] for column in self.columns])


def _nulls(kind: str, rows: int) -> np.ndarray | Runs:
    """A column without a value in any row of a request."""
    return _repeated(None, rows) if kind == "double" else Runs([None], [rows])


def _repeated(value: float | None, rows: int) -> np.ndarray:
    """A column of one number (or of nulls) for every row of a request."""
    return np.full(rows, np.nan if value is None else value, dtype=np.float64)


def schema_features(schema: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The feature columns of a capture schema (`capture_schema`: the features, then `OUTPUT_COLUMNS`)."""
    return schema[: len(schema) - len(OUTPUT_COLUMNS)]


def capture_batch(
    *,
    schema: list[tuple[str, str]],
    request_id: str,
    captured_at: datetime,
    version: int,
    variant: str,
    latency_ms: float,
    values: dict[str, Any],
    labels: list[Any],
    scores: Sequence[float] | np.ndarray | None = None,
    shadow_version: int | None = None,
    shadow_labels: list[Any] | None = None,
    answered: dict[str, str] | None = None,
) -> CaptureBatch:
    """What capture keeps of a request's rows: the metadata, the feature values and the outputs, in `schema`'s
    order (`capture_schema`). `answered`: the inputs of the version that answered (`input_kinds`), when it is not
    every feature of the schema: a feature it does not read, or reads as another kind, is null in its rows."""
    rows = len(labels)
    at = int(captured_at.timestamp() * 1000)
    columns = [
        Runs([request_id], [rows]),
        _repeated(at, rows),
        np.arange(rows, dtype=np.float64),
        _repeated(version, rows),
        Runs([variant], [rows]),
        _repeated(latency_ms, rows),
        *(
            values[name] if answered is None or answered.get(name) == kind else _nulls(kind, rows)
            for name, kind in schema_features(schema)
        ),
        labels,
        np.asarray(scores, dtype=np.float64) if scores is not None else [None] * rows,
        _repeated(shadow_version, rows),
        shadow_labels if shadow_labels is not None else Runs([None], [rows]),
    ]
    return CaptureBatch(captured_at.astimezone(UTC).date(), rows, columns)


def _concatenate(parts: list[Any]) -> Any:
    if all(isinstance(part, np.ndarray) for part in parts):
        return np.concatenate(parts)
    if all(isinstance(part, Runs) for part in parts):
        return Runs([v for part in parts for v in part.values], [n for part in parts for n in part.counts])
    return list(chain.from_iterable(map(_listed, parts)))


def _listed(part: Any) -> list[Any]:
    """A part as a list, where None is null: a float array's NaN (its null) becomes None (in a list NaN is a value)."""
    if not isinstance(part, np.ndarray):
        return list(part)
    values = part.tolist()
    if part.dtype.kind == "f" and np.isnan(part).any():
        return [None if math.isnan(v) else v for v in values]
    return values


@dataclass
class _Buffer:
    """Batches of one model waiting to be written (one schema per model)."""

    schema: list[tuple[str, str]]
    batches: list[CaptureBatch] = field(default_factory=list)
    since: float = 0.0
    rows: int = 0


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
        background: bool = False,
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
        # buffers a new schema replaced (a rollout began or ended) whose write failed: retried at the next flush
        self._retired: list[tuple[str, _Buffer]] = []
        self._lock = threading.RLock()  # re-entered: a write in the caller's thread records its outcome
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture") if background else None
        self._in_flight: list[Future[None]] = []

    def sampled(self, rate: float) -> bool:
        return rate >= 1.0 or self.rng.random() < rate

    def add(self, model_name: str, schema: list[tuple[str, str]], batch: CaptureBatch) -> None:
        """Append a request's rows and write the buffer when it is due."""
        with self._lock:
            buffer = self._buffers.get(model_name)
            if buffer is None or buffer.schema != schema:
                if buffer is not None and buffer.batches:
                    self._due(model_name, buffer)
                    self._retired.append((model_name, buffer))  # its rows return to it if the write fails
                buffer = self._buffers[model_name] = _Buffer(schema, since=self.clock())
            if not buffer.batches:
                buffer.since = self.clock()
            buffer.batches.append(batch)
            buffer.rows += batch.rows
            if buffer.rows >= self.max_rows or self.clock() - buffer.since >= self.max_age:
                self._due(model_name, buffer)

    def flush(self) -> int:
        """Write every buffer now (shutdown, tests), after the writes in flight; returns the rows written."""
        with self._lock:
            in_flight, self._in_flight = self._in_flight, []
        wait(in_flight)
        with self._lock:
            before = self.written
            for name, buffer in [*self._retired, *self._buffers.items()]:
                if buffer.batches:
                    self._write(name, buffer, self._take(buffer))
            self._retired = [(name, buffer) for name, buffer in self._retired if buffer.batches]
            return self.written - before

    def _take(self, buffer: _Buffer) -> list[CaptureBatch]:
        batches, buffer.batches, buffer.rows = buffer.batches, [], 0
        buffer.since = self.clock()
        return batches

    def _due(self, model_name: str, buffer: _Buffer) -> None:
        """Write a due buffer's rows: in the writer thread with `background` (the request goes on), else now."""
        batches = self._take(buffer)
        if self._writer is None:
            self._write(model_name, buffer, batches)
            return
        self._in_flight = [f for f in self._in_flight if not f.done()]
        self._in_flight.append(self._writer.submit(self._write, model_name, buffer, batches))

    def pending(self) -> int:
        return sum(buffer.rows for buffer in [*(b for _, b in self._retired), *self._buffers.values()])

    def _write(self, model_name: str, buffer: _Buffer, batches: list[CaptureBatch]) -> None:
        """Encode and put the batches, a file per day served; rows a put failed on go back to the buffer."""
        columns = [*META_COLUMNS, *buffer.schema]
        by_day: dict[date, list[CaptureBatch]] = {}
        for batch in batches:  # the partition is the day the rows were served (a buffer may straddle midnight)
            by_day.setdefault(batch.day, []).append(batch)
        unwritten: list[CaptureBatch] = []
        for day, day_batches in by_day.items():
            rows = sum(batch.rows for batch in day_batches)
            try:
                data = write_parquet(
                    [
                        (name, kind, _concatenate([batch.columns[i] for batch in day_batches]))
                        for i, (name, kind) in enumerate(columns)
                    ]
                )
                key = partition_file(CAPTURE, model_name, day, datetime.now(UTC), uuid.uuid4().hex[:12])
                self.store.put(key, data, "application/vnd.apache.parquet")
            except Exception:  # a capture failure must not fail the prediction; keep the rows for the next flush
                logger.exception("capture write failed", extra={"model": model_name, "rows": rows})
                unwritten.extend(day_batches)
                continue
            with self._lock:
                self.written += rows
        if unwritten:
            with self._lock:
                buffer.batches = self._bounded(unwritten) + buffer.batches
                buffer.rows = sum(batch.rows for batch in buffer.batches)

    def _bounded(self, batches: list[CaptureBatch]) -> list[CaptureBatch]:
        """The newest rows of `batches`, at most `max_buffered_rows`; the oldest beyond it are dropped and counted."""
        kept: list[CaptureBatch] = []
        room = self.max_buffered
        for batch in reversed(batches):
            if room <= 0:
                self.dropped += batch.rows
                continue
            kept.append(batch if batch.rows <= room else batch.tail(room))
            self.dropped += max(batch.rows - room, 0)
            room -= batch.rows
        return kept[::-1]
