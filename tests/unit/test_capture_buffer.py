"""The capture buffer: when it writes, what it keeps when a write fails, and where the rows land."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcore.catalog import META_COLUMNS, RESERVED_COLUMNS
from mlcore.serving import CaptureBatch, CaptureBuffer, capture_batch, capture_schema
from mlcore.spec import ModelSpec

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ROW = {
    "tenure_months": 3.0,
    "monthly_charges": 89.5,
    "support_calls": 4.0,
    "age": 27.0,
    "data_usage_gb": None,
    "plan": "basic",
    "region": "north",
}


class MemoryStore:
    """The object store port in memory; `failing` makes every put raise."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.failing = False
        self.failing_prefix: str | None = None  # only puts under this prefix fail

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if self.failing or (self.failing_prefix is not None and key.startswith(self.failing_prefix)):
            raise ConnectionError("S3 is unreachable")
        self.objects[key] = data
        self.content_types[key] = content_type

    def table(self, prefix: str = "capture/") -> pa.Table | None:
        tables = [pq.read_table(io.BytesIO(v)) for k, v in sorted(self.objects.items()) if k.startswith(prefix)]
        return pa.concat_tables(tables) if tables else None

    def request_ids(self) -> list[str]:
        table = self.table()
        return table.column("request_id").to_pylist() if table is not None else []


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def buffer_of(store: MemoryStore, clock: FakeClock, **limits: Any) -> CaptureBuffer:
    return CaptureBuffer(store, clock=clock, **limits)  # type: ignore[arg-type]


def request(spec: ModelSpec, request_id: str, rows: int = 1, at: datetime = AT) -> CaptureBatch:
    return capture_batch(
        schema=capture_schema(spec),
        request_id=request_id,
        captured_at=at,
        version=1,
        variant="champion",
        latency_ms=3.0,
        values={name: [value] * rows for name, value in ROW.items()},
        labels=["no"] * rows,
    )


def add(buffer: CaptureBuffer, spec: ModelSpec, request_id: str, rows: int = 1, at: datetime = AT) -> None:
    buffer.add(spec.name, capture_schema(spec), request(spec, request_id, rows, at))


def test_captured_rows_follow_the_schema(store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec) -> None:
    batch = capture_batch(
        schema=capture_schema(churn_spec),
        request_id="r",
        captured_at=AT,
        version=2,
        variant="champion",
        latency_ms=1.5,
        values={name: [value, value] for name, value in ROW.items()},
        labels=["no", "yes"],
        scores=[0.25, 0.75],
        shadow_version=3,
        shadow_labels=["yes", "yes"],
    )
    buffer = buffer_of(store, clock)
    buffer.add(churn_spec.name, capture_schema(churn_spec), batch)
    buffer.flush()
    (key,) = store.objects
    table = store.table(key)
    assert table is not None
    rows = [tuple(row.values()) for row in table.to_pylist()]
    assert rows == [
        ("r", AT, 0, 2, "champion", 1.5, *ROW.values(), "no", 0.25, 3, "yes"),
        ("r", AT, 1, 2, "champion", 1.5, *ROW.values(), "yes", 0.75, 3, "yes"),
    ]
    assert [name for name, _ in capture_schema(churn_spec)][-4:] == [
        "prediction",
        "score",
        "shadow_version",
        "shadow_prediction",
    ]


def test_the_buffer_writes_when_it_holds_max_rows(store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec) -> None:
    buffer = buffer_of(store, clock, max_rows=5)
    add(buffer, churn_spec, "r1", rows=2)
    add(buffer, churn_spec, "r2", rows=2)
    assert (store.objects, buffer.pending()) == ({}, 4)
    add(buffer, churn_spec, "r3", rows=2)
    assert store.request_ids() == ["r1", "r1", "r2", "r2", "r3", "r3"]
    assert (len(store.objects), buffer.pending(), buffer.written) == (1, 0, 6)


def test_the_buffer_writes_when_its_oldest_row_reaches_max_age(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    buffer = buffer_of(store, clock, max_rows=1000, max_age_seconds=30)
    add(buffer, churn_spec, "r1")
    clock.now += 29
    add(buffer, churn_spec, "r2")
    assert store.objects == {}
    clock.now += 1  # 30 s after the first row was buffered
    add(buffer, churn_spec, "r3")
    assert store.request_ids() == ["r1", "r2", "r3"]
    # the age counts from the first row buffered after a write, not from the write before
    clock.now += 100
    add(buffer, churn_spec, "r4")
    assert buffer.pending() == 1


def test_flush_writes_everything_pending_for_every_model(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    other = churn_spec.model_copy(update={"name": "upsell"})
    buffer = buffer_of(store, clock)
    add(buffer, churn_spec, "r1", rows=3)
    add(buffer, other, "r2", rows=2)
    assert buffer.flush() == 5
    assert buffer.pending() == 0
    assert sorted(key.split("/")[1] for key in store.objects) == ["model=churn", "model=upsell"]
    assert buffer.flush() == 0  # nothing left: no empty file
    assert len(store.objects) == 2


def test_a_failed_write_keeps_the_rows_and_the_next_flush_writes_them(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN S3 fails when the buffer is due
    buffer = buffer_of(store, clock, max_rows=2)
    store.failing = True
    add(buffer, churn_spec, "r1", rows=2)  # no exception reaches the caller
    assert "capture write failed" in caplog.text
    assert (buffer.pending(), buffer.written, buffer.dropped) == (2, 0, 0)
    # WHEN S3 is back
    store.failing = False
    add(buffer, churn_spec, "r2")
    # THEN the kept rows are written first, then the new ones
    assert store.request_ids() == ["r1", "r1", "r2"]
    assert (buffer.pending(), buffer.written, buffer.dropped) == (0, 3, 0)


def test_the_max_buffered_bound_drops_the_oldest_rows_and_counts_them(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    # GIVEN S3 is down while 40 rows arrive, with room for 25
    buffer = buffer_of(store, clock, max_rows=10, max_buffered_rows=25)
    store.failing = True
    for i in range(4):
        add(buffer, churn_spec, f"r{i}", rows=10)
    # THEN the 15 oldest rows are dropped and counted
    assert (buffer.pending(), buffer.dropped) == (25, 15)
    store.failing = False
    assert buffer.flush() == 25
    assert store.request_ids() == ["r1"] * 5 + ["r2"] * 10 + ["r3"] * 10


def test_rows_straddling_midnight_go_to_the_day_they_were_served(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    midnight = datetime(2025, 3, 2, tzinfo=UTC)
    buffer = buffer_of(store, clock)
    add(buffer, churn_spec, "before", rows=2, at=midnight - timedelta(milliseconds=1))
    add(buffer, churn_spec, "after", rows=3, at=midnight)
    assert buffer.flush() == 5
    by_day = {}
    for key in store.objects:
        match = re.fullmatch(r"capture/model=churn/dt=(\d{4}-\d{2}-\d{2})/\d{12}-[0-9a-f]{12}\.parquet", key)
        assert match, key
        by_day[match.group(1)] = store.table(key).column("request_id").to_pylist()  # type: ignore[union-attr]
    assert by_day == {"2025-03-01": ["before"] * 2, "2025-03-02": ["after"] * 3}


def without_age(spec: ModelSpec) -> ModelSpec:
    """The spec of a version that does not read age: its capture has another schema."""
    raw = spec.model_dump(mode="json")
    return spec.model_validate({**raw, "features": [f for f in raw["features"] if f["name"] != "age"]})


def test_a_new_schema_writes_the_rows_of_the_old_one_first(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    buffer = buffer_of(store, clock)
    add(buffer, churn_spec, "old")
    narrower = without_age(churn_spec)
    buffer.add("churn", capture_schema(narrower), request(narrower, "new"))
    assert store.request_ids() == ["old"]
    assert buffer.flush() == 1
    assert len(store.objects) == 2


def test_rows_of_a_replaced_schema_whose_write_failed_are_written_at_the_next_flush(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    buffer = buffer_of(store, clock)
    add(buffer, churn_spec, "old")
    narrower = without_age(churn_spec)
    # WHEN a new schema arrives while S3 fails: the old rows' write fails, and they wait, counted as pending
    store.failing = True
    buffer.add("churn", capture_schema(narrower), request(narrower, "new"))
    assert store.objects == {} and buffer.pending() == 2
    # THEN once S3 answers, the next flush writes both, each in its schema, and nothing is dropped
    store.failing = False
    assert buffer.flush() == 2
    written = [pq.read_table(io.BytesIO(data)) for _, data in sorted(store.objects.items())]
    assert sorted(table.column("request_id")[0].as_py() for table in written) == ["new", "old"]
    assert [("age" in table.column_names) for table in written].count(True) == 1  # each in its own schema
    assert buffer.dropped == 0 and buffer.pending() == 0


def test_the_spec_reserves_every_column_capture_adds(churn_spec: ModelSpec) -> None:
    feature_names = set(churn_spec.feature_names)
    added = {name for name, _ in (*META_COLUMNS, *capture_schema(churn_spec))} - feature_names
    assert added == RESERVED_COLUMNS


# -- sampling, bounds and formats at their edges -----------------------------------------------------


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(("draw", "rate", "sampled"), [(0.3, 0.3, False), (0.2999, 0.3, True), (0.99, 1.0, True)])
def test_a_request_is_sampled_below_the_rate_and_always_at_one(draw: float, rate: float, sampled: bool) -> None:
    assert CaptureBuffer(MemoryStore(), rng=FixedRandom(draw)).sampled(rate) is sampled  # type: ignore[arg-type]


def test_without_a_generator_sampling_draws_from_its_own(store: MemoryStore) -> None:
    buffer = CaptureBuffer(store)  # type: ignore[arg-type]
    assert 300 < sum(buffer.sampled(0.5) for _ in range(1000)) < 700


def test_the_bound_keeps_exactly_the_room_it_has(store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec) -> None:
    buffer = buffer_of(store, clock, max_rows=10, max_buffered_rows=20)
    store.failing = True
    add(buffer, churn_spec, "r0", rows=10)
    add(buffer, churn_spec, "r1", rows=10)  # exactly at the bound: nothing dropped
    assert (buffer.pending(), buffer.dropped) == (20, 0)
    add(buffer, churn_spec, "r2", rows=10)
    assert (buffer.pending(), buffer.dropped) == (20, 10)
    store.failing = False
    assert buffer.flush() == 20
    assert store.request_ids() == ["r1"] * 10 + ["r2"] * 10


def test_a_model_whose_schema_changed_writes_its_old_rows_under_its_own_name(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    buffer = buffer_of(store, clock)
    add(buffer, churn_spec, "old")
    narrower = without_age(churn_spec)
    buffer.add("churn", capture_schema(narrower), request(narrower, "new"))
    assert all(key.startswith("capture/model=churn/") for key in store.objects)


def test_a_full_buffer_is_written_under_its_models_name(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    buffer = buffer_of(store, clock, max_rows=2)
    add(buffer, churn_spec, "r1", rows=2)
    [key] = store.objects
    assert key.startswith("capture/model=churn/dt=2025-03-01/")


def test_the_age_of_a_buffer_counts_from_its_first_row_after_a_write(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    buffer = buffer_of(store, clock, max_age_seconds=30)
    add(buffer, churn_spec, "r1")
    clock.now += 29
    add(buffer, churn_spec, "r2")
    assert store.objects == {}
    clock.now += 1
    add(buffer, churn_spec, "r3")  # 30 s after the first row
    assert store.request_ids() == ["r1", "r2", "r3"]
    clock.now += 100  # idle: the next row starts a new age
    add(buffer, churn_spec, "r4")
    assert store.request_ids() == ["r1", "r2", "r3"]


def test_the_captured_metadata_columns_have_their_types(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    buffer = buffer_of(store, clock)
    add(buffer, churn_spec, "r1", rows=3)
    buffer.flush()
    table = store.table()
    assert table is not None
    assert table.column("row_index").to_pylist() == [0, 1, 2]
    assert table.schema.field("row_index").type == pa.int64() and table.schema.field("latency_ms").type == pa.float64()
    assert table.column("shadow_version").to_pylist() == [None] * 3


def test_a_regressors_predictions_are_captured_as_numbers() -> None:
    from mlcore.serving import label_kind
    from mlcore.spec import parse_spec

    spec = parse_spec({"name": "prices", "task": "regression", "target": "price",
                       "features": [{"name": "rooms", "type": "integer"}], "estimator": {"kind": "ridge"},
                       "metrics": {"primary": "rmse"}})  # fmt: skip
    assert label_kind(spec) == "double"
    assert ("prediction", "double") in capture_schema(spec) and ("shadow_prediction", "double") in capture_schema(spec)


def test_captured_files_are_stored_as_parquet(store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec) -> None:
    buffer = buffer_of(store, clock)
    add(buffer, churn_spec, "r1")
    buffer.flush()
    assert list(store.content_types.values()) == ["application/vnd.apache.parquet"]


def test_a_failed_write_is_logged_with_the_model_and_its_rows(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec, caplog: pytest.LogCaptureFixture
) -> None:
    buffer = buffer_of(store, clock, max_rows=3)
    store.failing = True
    add(buffer, churn_spec, "r1", rows=3)
    [record] = [r for r in caplog.records if r.getMessage() == "capture write failed"]
    assert (record.model, record.rows) == ("churn", 3)  # type: ignore[attr-defined]
    assert record.exc_info is not None and "S3 is unreachable" in str(record.exc_info[1])


def test_after_a_failed_write_the_next_request_is_captured_and_ages_from_then(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    buffer = buffer_of(store, clock, max_rows=1000, max_age_seconds=30)
    add(buffer, churn_spec, "r1")
    clock.now += 30
    store.failing = True
    add(buffer, churn_spec, "r2")  # due by age: the write fails, the rows stay
    store.failing = False
    clock.now += 29
    add(buffer, churn_spec, "r3")  # 29 s after the failed write: not due yet
    assert (store.objects, buffer.pending()) == ({}, 3)
    clock.now += 1
    add(buffer, churn_spec, "r4")
    assert store.request_ids() == ["r1", "r2", "r3", "r4"]


def test_a_failed_day_does_not_stop_the_other_days_of_a_buffer(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    midnight = datetime(2025, 3, 2, tzinfo=UTC)
    buffer = buffer_of(store, clock)
    add(buffer, churn_spec, "before", rows=2, at=midnight - timedelta(seconds=1))
    add(buffer, churn_spec, "after", rows=3, at=midnight)
    store.failing_prefix = "capture/model=churn/dt=2025-03-01/"
    assert buffer.flush() == 3  # the second day is written
    assert store.request_ids() == ["after"] * 3
    assert buffer.pending() == 2  # the first day's rows wait for the next flush
    store.failing_prefix = None
    assert buffer.flush() == 2


def test_the_bound_keeps_the_last_row_of_room_and_counts_every_older_row_dropped(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    # room for 7 while S3 is down: 3 + 3 fit, one row of the next batch, and the two oldest are dropped
    buffer = buffer_of(store, clock, max_rows=1000, max_buffered_rows=7)
    for request_id in ("r0", "r1", "r2", "r3", "r4"):
        add(buffer, churn_spec, request_id, rows=3)
    store.failing = True
    buffer.flush()
    assert (buffer.pending(), buffer.dropped) == (7, 2 + 3 + 3)
    store.failing = False
    buffer.flush()
    assert store.request_ids() == ["r2", "r3", "r3", "r3", "r4", "r4", "r4"]


@pytest.fixture
def far_east_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's clock in UTC+14: local dates and hours are not UTC's."""
    import time

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_partition_and_file_time_are_utc_whatever_the_machines_zone(
    far_east_zone: None, store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    late = datetime(2025, 3, 1, 23, 0, tzinfo=UTC)  # already 2 March in UTC+14
    assert request(churn_spec, "r", at=late).day == late.date()
    buffer = buffer_of(store, clock)
    add(buffer, churn_spec, "r", at=late)
    before = datetime.now(UTC)
    buffer.flush()
    [key] = store.objects
    assert key.startswith("capture/model=churn/dt=2025-03-01/")
    written = datetime.strptime(key.rsplit("/", 1)[1][:6], "%H%M%S").time()
    minutes_later = (written.hour * 60 + written.minute - (before.hour * 60 + before.minute)) % (24 * 60)
    assert minutes_later in (0, 1)


class GatedStore(MemoryStore):
    """A store whose puts wait until the test opens the gate (a slow S3)."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.gate = threading.Event()
        self.started = threading.Event()

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.started.set()
        assert self.gate.wait(timeout=10), "the test never opened the gate"
        super().put(key, data, content_type)


def test_in_the_background_the_request_that_fills_the_buffer_does_not_wait_for_the_write(
    clock: FakeClock, churn_spec: ModelSpec
) -> None:
    store = GatedStore()
    buffer = CaptureBuffer(store, clock=clock, max_rows=3, background=True)  # type: ignore[arg-type]
    for request_id in ("a", "b", "c"):
        add(buffer, churn_spec, request_id)  # the third fills it: returns while the put still waits
    assert store.started.wait(timeout=10) and store.objects == {}
    add(buffer, churn_spec, "d")  # the next request goes on meanwhile
    store.gate.set()
    # THEN a flush waits for the write in flight, then writes the rest: every row, in order
    assert buffer.flush() == 1
    assert store.request_ids() == ["a", "b", "c", "d"]
    assert buffer.written == 4


def test_in_the_background_a_failed_write_keeps_its_rows_for_the_next_flush(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    buffer = CaptureBuffer(store, clock=clock, max_rows=2, background=True)  # type: ignore[arg-type]
    store.failing = True
    add(buffer, churn_spec, "a")
    add(buffer, churn_spec, "b")  # due: the writer's put fails
    assert buffer.flush() == 0 and buffer.pending() == 2  # kept, not lost
    store.failing = False
    assert buffer.flush() == 2
    assert store.request_ids() == ["a", "b"]


def test_a_null_is_null_whether_its_request_was_checked_in_one_pass_or_value_by_value(
    store: MemoryStore, clock: FakeClock, churn_spec: ModelSpec
) -> None:
    import numpy as np

    def batch(request_id: str, usage: Any) -> CaptureBatch:
        values: dict[str, Any] = {name: [value] * 2 for name, value in ROW.items()}
        values["data_usage_gb"] = usage
        return capture_batch(schema=capture_schema(churn_spec), request_id=request_id, captured_at=AT, version=1,
                             variant="champion", latency_ms=1.0, values=values, labels=["no", "no"])  # fmt: skip

    buffer = buffer_of(store, clock)
    # one pass keeps a number column as a float array (NaN for null); value by value as a list (None for null)
    buffer.add(churn_spec.name, capture_schema(churn_spec), batch("one-pass", np.array([np.nan, 1.5])))
    buffer.add(churn_spec.name, capture_schema(churn_spec), batch("by-value", [None, 2.5]))
    buffer.flush()
    table = store.table()
    assert table is not None
    assert table.column("data_usage_gb").to_pylist() == [None, 1.5, None, 2.5]
    assert table.column("data_usage_gb").null_count == 2
