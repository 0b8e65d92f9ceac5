"""The feature store on moto: ingest into a view's offline store, point-in-time training sets in the validate
step, materialization of the online store, and enrichment of predictions by entity key."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from functional_helpers import csv_bytes

from infra.local.example_data import CARD_VIEW, FRAUD_SPEC, card_activity, card_transactions
from mlcore.catalog import PipelineInput, ValidateRequest, dataset_key, online_key, part_key
from mlcore.data import read_split, to_parquet
from mlcore.errors import BadRequestError, DataValidationError, DependencyError
from mlcore.features import ingest_rows, materialize_view
from mlcore.registry import Registry, VersionStatus
from mlcore.serving import CaptureBuffer, OnlineStore, PredictionService
from mlcore.spec import FeatureView, ModelSpec, load_spec, load_view
from mlcore.storage import ObjectStore

DATABASE = "mlops_features"
END = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def glue(resources: Any) -> Any:
    client = boto3.client("glue")
    client.create_database(DatabaseInput={"Name": DATABASE})
    return client


@pytest.fixture
def view(registry: Registry) -> FeatureView:
    """GIVEN the example card-activity view registered."""
    view = load_view(CARD_VIEW.read_text())
    registry.put_view(view, actor="test")
    return view


@pytest.fixture
def activity() -> pa.Table:
    return card_activity(cards=40, days=6, end=END, seed=1)[0]


@pytest.fixture
def ingest(view: FeatureView, data: ObjectStore, glue: Any) -> Callable[[pa.Table], Any]:
    return lambda rows: ingest_rows(view, rows, data=data, glue=glue, database=DATABASE, now=datetime.now(UTC))


@pytest.fixture
def fraud_spec(registry: Registry, view: FeatureView) -> ModelSpec:
    spec = load_spec(FRAUD_SPEC.read_text(), views=lambda name: registry.get_view(name).view)
    registry.put_spec(spec, actor="test")
    return spec


@pytest.fixture
def upload_labels(
    data: ObjectStore, ingest: Callable[[pa.Table], Any], activity: pa.Table, fraud_spec: ModelSpec
) -> Callable[[pa.Table], Any]:
    """GIVEN the fraud model registered and its view's rows ingested: `upload_labels(table)` is its newest dataset."""
    ingest(activity)
    return lambda labels: data.put(dataset_key("fraud", END, ".parquet"), to_parquet(labels))


def _validate(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, run_id: str, *, force: bool = False
) -> Any:
    from mlcore.data import validate_dataset

    request = ValidateRequest(request=PipelineInput(model_name="fraud", force=force), run_id=run_id)
    return validate_dataset(request, registry=registry, data=data, artifacts=artifacts, capture=artifacts)


# -- the offline store ----------------------------------------------------------------------------


def test_an_ingest_appends_one_file_per_day_that_awswrangler_reads_from_the_glue_table(
    ingest: Callable[[pa.Table], Any], activity: pa.Table, data: ObjectStore
) -> None:
    import awswrangler as wr

    first = ingest(activity.slice(0, 100))
    second = ingest(activity.slice(100))
    assert first.rows + second.rows == activity.num_rows
    # THEN each day of event times is a partition, and no ingest overwrote another's files
    keys = data.list_keys("features/card-activity/")
    assert all("/date=" in key for key in keys) and len(keys) == len(first.files) + len(second.files)
    # each ingest marked complete once its files are written (only complete ingests are read)
    assert len(data.list_keys("features/_ingests/card-activity/")) == 2
    table = wr.s3.read_parquet_table(database=DATABASE, table="card_activity", boto3_session=boto3.Session())
    assert len(table) == activity.num_rows
    assert sorted(table["date"].unique()) == sorted(set(first.days) | set(second.days))


def test_the_same_rows_ingested_again_are_not_stored_twice(
    ingest: Callable[[pa.Table], Any], activity: pa.Table, data: ObjectStore
) -> None:
    first = ingest(activity.slice(0, 100))
    # WHEN the same rows are ingested again (a retry after Ctrl-C), in another order
    again = ingest(activity.slice(0, 100).take(list(reversed(range(100)))))
    # THEN nothing is written, and the answer names the ingest that holds them
    assert (again.already, again.ingest, again.files, again.rows) == (True, first.ingest, [], 100)
    assert len(data.list_keys("features/_ingests/card-activity/")) == 1
    # AND rows that differ in one value are new rows
    counts = activity.column("tx_count_24h").to_pylist()
    changed = activity.set_column(
        activity.column_names.index("tx_count_24h"), "tx_count_24h", pa.array([counts[0] + 1, *counts[1:]])
    )
    assert not ingest(changed.slice(0, 100)).already
    assert len(data.list_keys("features/_ingests/card-activity/")) == 2
    # AND rows whose ingest was withdrawn since (its marker deleted: no reader reads it) are stored anew
    data.client.delete_object(Bucket=data.bucket, Key=f"features/_ingests/card-activity/{first.ingest}.json")
    assert not ingest(activity.slice(0, 100)).already


@pytest.mark.parametrize("uri", ["s3://no-such-bucket/views/", "s3://no-such-bucket/views/a.csv"])
def test_an_ingest_from_a_bucket_that_is_not_there_names_the_uri(resources: Any, view: FeatureView, uri: str) -> None:
    from mlcore.features import source_rows

    with pytest.raises(DataValidationError, match=rf"^{re.escape(uri)} cannot be read: NoSuchBucket: ") as caught:
        source_rows(uri, view, resources.s3)
    assert caught.value.field == "source"


def test_a_folder_of_a_parquet_file_with_number_keys_and_a_csv_reads_as_one_table(
    ingest: Callable[[pa.Table], Any], activity: pa.Table, view: FeatureView, data: ObjectStore
) -> None:
    from mlcore.data import concat_dataset, read_table

    # GIVEN the same view's rows, keyed by numbers in a Parquet file and written as text in a CSV
    rows = activity.slice(0, 4).set_column(0, "card_id", pa.array([7, 8, 9, 10], pa.int64()))
    contract = view.contract_spec()
    parquet = read_table(to_parquet(rows), "a.parquet", contract)
    csv = read_table(csv_bytes(rows), "b.csv", contract)
    # WHEN they are read as one (they failed: "Unable to merge: Field card_id has incompatible types")
    table = concat_dataset([parquet, csv])
    # THEN each key is text, as a key is, and the rows ingest
    assert table.column("card_id").to_pylist() == ["7", "8", "9", "10"] * 2
    assert ingest(table).rows == 8


def test_times_to_the_nanosecond_as_pandas_writes_them_are_kept_to_the_microsecond(
    ingest: Callable[[pa.Table], Any], activity: pa.Table, data: ObjectStore
) -> None:
    import pyarrow.csv as pacsv

    from mlcore.data import as_timestamps, read_table

    # GIVEN rows whose times pandas wrote to the nanosecond, 773 ns past a microsecond (refused: "would lose data")
    rows = activity.slice(0, 5)
    at = rows.column("event_time")
    nanos = pc.add(pc.cast(pc.cast(at, pa.timestamp("ns", tz="UTC")), pa.int64()), 773)
    precise = rows.set_column(
        rows.column_names.index("event_time"), "event_time", nanos.cast(pa.timestamp("ns", tz="UTC"))
    )
    # WHEN they are ingested THEN they are, each at its microsecond
    ingest(precise)
    keys = [k for k in data.list_keys("features/card-activity/") if k.endswith(".parquet")]
    stored = [t for key in keys for t in pq.read_table(io.BytesIO(data.get(key))).column("event_time").to_pylist()]
    assert sorted(stored) == sorted(at.to_pylist())
    # AND a CSV that writes nine digits of a second reads alike
    sink = io.BytesIO()
    pacsv.write_csv(precise, sink)
    assert b"773Z" in sink.getvalue()
    read = read_table(sink.getvalue(), "rows.csv")
    assert as_timestamps(read.column("event_time")).to_pylist() == at.to_pylist()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("tx_count_24h", -1.0, "tx_count_24h"),
        ("card_id", None, "card_id"),
        ("event_time", None, "without a readable"),
        # no bound to break: the API refuses it, and it would be blamed on a client that sent only the card's id
        ("amount_mean_7d", float("inf"), r"finite\(amount_mean_7d\): 1 values are infinite"),
    ],
)
def test_rows_that_break_the_views_contract_write_nothing(  # noqa: PLR0917 (pytest fixtures)
    ingest: Callable[[pa.Table], Any], activity: pa.Table, data: ObjectStore, column: str, value: Any, message: str
) -> None:
    rows = activity.slice(0, 10)
    index = rows.column_names.index(column)
    broken = rows.set_column(
        index, column, pa.array([value, *rows.column(column).to_pylist()[1:]], rows.schema.field(column).type)
    )
    with pytest.raises(DataValidationError, match=message):
        ingest(broken)
    assert data.list_keys("features/") == []


def test_two_rows_giving_a_key_other_values_at_the_same_time_are_refused_and_the_same_row_twice_is_not(
    ingest: Callable[[pa.Table], Any], activity: pa.Table, data: ObjectStore
) -> None:
    rows = activity.slice(0, 3)
    first = rows.slice(0, 1)
    # GIVEN the first row again, once as it is and once with another count
    twice = pa.concat_tables([rows, first])
    changed = first.set_column(first.column_names.index("tx_count_24h"), "tx_count_24h", pa.array([99.0]))
    with pytest.raises(DataValidationError) as caught:
        ingest(pa.concat_tables([twice, changed]))
    card, at = first.column("card_id")[0].as_py(), first.column("event_time")[0].as_py()
    assert (
        f"1 key(s) are given different values at the same time by two rows or more (first: card_id {card!r} at "
        f"{at.isoformat()}): keep one row per key and time"
    ) in caught.value.message
    assert data.list_keys("features/") == []  # nothing written
    # AND the same row twice is taken; a column the view does not have is said to be left out
    taken = ingest(twice.append_column("note", pa.array(["x"] * 4)))
    assert (taken.rows, taken.ignored) == (4, ["note"])


def test_an_ingest_names_its_rows_time_problems_and_contract_failures_at_once(
    ingest: Callable[[pa.Table], Any], activity: pa.Table, data: ObjectStore
) -> None:
    # GIVEN rows with an unreadable time and a negative count: one refusal names both, not one per attempt
    rows = activity.slice(0, 10)
    times = [f"{t:%Y-%m-%dT%H:%M:%S}Z" for t in rows.column("event_time").to_pylist()]
    times[2] = "soon"
    counts = [-1.0, *rows.column("tx_count_24h").to_pylist()[1:]]
    broken = rows.set_column(rows.column_names.index("event_time"), "event_time", pa.array(times))
    broken = broken.set_column(broken.column_names.index("tx_count_24h"), "tx_count_24h", pa.array(counts))
    with pytest.raises(DataValidationError) as caught:
        ingest(broken)
    message = str(caught.value)
    assert message.startswith("view 'card-activity': 1 row without a readable time in 'event_time' (row 2: 'soon';")
    assert "; the rows break its contract: " in message and "tx_count_24h" in message
    assert caught.value.field is None  # more than the time column is wrong
    assert data.list_keys("features/") == []


def test_one_unreadable_time_among_written_ones_is_named_by_its_row(
    ingest: Callable[[pa.Table], Any], activity: pa.Table, data: ObjectStore
) -> None:
    # GIVEN rows whose times are written as a CSV gives them (ISO 8601 text, with a zone), one of them not a time
    rows = activity.slice(0, 10)
    original = [f"{t:%Y-%m-%dT%H:%M:%S}Z" for t in rows.column("event_time").to_pylist()]
    written = [*original[:3], "yesterday", *original[4:]]
    index = rows.column_names.index("event_time")
    # WHEN they are ingested THEN only that row is refused, named with its value; nothing is written
    with pytest.raises(DataValidationError) as caught:
        ingest(rows.set_column(index, "event_time", pa.array(written)))
    assert "1 row without a readable time in 'event_time' (row 3: 'yesterday'; rows counted from 0" in str(caught.value)
    assert caught.value.field == "event_time"
    assert data.list_keys("features/") == []
    # AND the same rows with a time there are ingested, every time read (a zone or none, as written)
    written[3] = original[3].removesuffix("Z")  # without a zone: UTC
    assert ingest(rows.set_column(index, "event_time", pa.array(written))).rows == 10


@pytest.mark.parametrize(
    ("ahead", "refused"), [(timedelta(minutes=4, seconds=59), False), (timedelta(minutes=5, seconds=1), True)]
)
def test_a_row_stamped_in_the_future_is_refused_beyond_a_clock_skew(  # noqa: PLR0917 (pytest fixtures)
    view: FeatureView, activity: pa.Table, data: ObjectStore, glue: Any, ahead: timedelta, refused: bool
) -> None:
    # GIVEN rows of which one is stamped a little ahead of the ingest's clock (another machine's), or more
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    rows = activity.slice(0, 10)
    times = rows.column("event_time").to_pylist()
    times[6] = now + ahead
    stamped = rows.set_column(
        rows.column_names.index("event_time"), "event_time", pa.array(times, pa.timestamp("us", tz="UTC"))
    )

    def ingest() -> Any:
        return ingest_rows(view, stamped, data=data, glue=glue, database=DATABASE, now=now)

    if not refused:  # within the skew: taken as it is
        assert ingest().rows == 10
        return
    # WHEN it is more than 5 minutes ahead THEN the ingest is refused naming the row, and nothing is written: a value
    # true only later would be every read's newest, and no request could use it before its time
    with pytest.raises(DataValidationError) as caught:
        ingest()
    message = str(caught.value)
    assert "1 row stamped in the future in 'event_time' (row 6: 2026-03-10T12:05:01+00:00; rows counted" in message
    assert "the ingest's time is 2026-03-10T12:00:00Z" in message
    assert data.list_keys("features/") == []


# -- point-in-time training sets ------------------------------------------------------------------


def _newest_before(activity: pa.Table, card: str, at: datetime, ttl: timedelta) -> float | None:
    """What the card's tx_count_24h was at `at`, the slow and obvious way."""
    known = [
        (row["event_time"], row["tx_count_24h"])
        for row in activity.to_pylist()
        if row["card_id"] == card and at - ttl <= row["event_time"] <= at
    ]
    return max(known, key=lambda pair: pair[0])[1] if known else None


def test_validate_joins_each_label_with_what_its_card_knew_then_and_never_the_future(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    ingest: Callable[[pa.Table], Any],
    activity: pa.Table,
    upload_labels: Callable[[pa.Table], Any],
) -> None:
    labels = card_transactions(activity, rows=400, seed=2)
    # GIVEN the leakage trap: a value of 999 for the first label's card, a microsecond after its time
    first = labels.slice(0, 1).to_pylist()[0]
    trap = pa.table(
        {
            "card_id": [first["card_id"]],
            "event_time": pa.array([first["event_time"] + timedelta(microseconds=1)], pa.timestamp("us", tz="UTC")),
            "tx_count_24h": [999.0],
            "amount_mean_7d": [1.0],
        }
    )
    ingest(trap)
    upload_labels(labels)
    # WHEN the validate step runs
    result = _validate(registry, data, artifacts, "run-1")
    # THEN the training rows carry the view's features as they were at each label's time
    rows = pa.concat_tables([read_split(artifacts, result.train), read_split(artifacts, result.holdout)])
    assert rows.num_rows == labels.num_rows
    assert 999.0 not in rows.column("tx_count_24h").to_pylist()
    # AND the run records the view it read, beside the labels
    sources = {source.source: source for source in result.sources}
    assert sources["view"].uri.endswith("/features/card-activity/")
    assert sources["view"].rows == activity.num_rows + 1


def test_labels_checked_in_parts_are_joined_as_one_pass_joins_them(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    ingest: Callable[[pa.Table], Any],
    activity: pa.Table,
    fraud_spec: ModelSpec,
) -> None:
    from mlcore.catalog import RunFile, run_key

    # GIVEN labels of two periods four days apart (a gap longer than the view's 48 h TTL), in time order in 6
    # files, 3 per period; and the view's rows with the leakage trap: a value a microsecond after the early
    # period's last label (no later label of its card is within the TTL)
    labels = card_transactions(activity, rows=2400, seed=3).sort_by("event_time")
    times = labels.column("event_time")
    early = labels.filter(pc.less(times, pa.scalar(END - timedelta(days=5), times.type)))
    late = labels.filter(pc.greater_equal(times, pa.scalar(END - timedelta(hours=12), times.type)))
    trapped = early.slice(early.num_rows - 1, 1).to_pylist()[0]
    ingest(activity)
    ingest(_card_value(trapped["card_id"], trapped["event_time"] + timedelta(microseconds=1), 999.0))
    folder = "datasets/fraud/20260310T120000000000Z/"
    for i, period in enumerate((early, early, early, late, late, late)):
        third = -(-period.num_rows // 3)
        data.put(f"{folder}part-{i}.parquet", to_parquet(period.slice(third * (i % 3), third)))
    last = late.slice(late.num_rows - 1, 1).to_pylist()[0]

    def planned() -> None:  # an ingest completes once the parts are planned: a value the last label would take
        ingest(_card_value(last["card_id"], last["event_time"] - timedelta(microseconds=1), 555.0))

    validate = functools.partial(_validate_folder, registry, data, artifacts, fraud_spec, folder)

    # WHEN they are validated in one pass, and in parts (each file a part, read 50 rows at a time)
    single, parts = validate("one-pass", "never"), validate("in-parts", "always", planned)
    # THEN the same report, and the same rows with the same point-in-time features (never the trap's, nor the
    # value ingested while the parts ran)
    count = early.num_rows + late.num_rows
    reports = [
        json.loads(artifacts.get(run_key("fraud", r, RunFile.VALIDATION_JSON))) for r in ("one-pass", "in-parts")
    ]
    assert [(r["rows"], r["columns"], r["failures"], r["in_parts"]) for r in reports] == [
        (count, reports[0]["columns"], [], False), (count, reports[0]["columns"], [], True),
    ]  # fmt: skip

    def rows(result: Any) -> list[tuple[Any, ...]]:
        table = pa.concat_tables([read_split(artifacts, result.train), read_split(artifacts, result.holdout)])
        return sorted((tuple(row.values()) for row in table.select(sorted(table.column_names)).to_pylist()), key=repr)

    assert rows(parts) == rows(single) and len(rows(parts)) == count
    values = {row[sorted(read_split(artifacts, parts.train).column_names).index("tx_count_24h")] for row in rows(parts)}
    assert not values & {999.0, 555.0}
    # and the run records the view files one pass reads (the gap's days too): the same source and fingerprint
    views = [[source for source in result.sources if source.source == "view"] for result in (parts, single)]
    assert views[0] == views[1] and views[0][0].rows == activity.num_rows + 1
    assert parts.fingerprint == single.fingerprint


def _validate_folder(  # noqa: PLR0917 (the stores, the spec and the folder of the test)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    spec: ModelSpec,
    folder: str,
    run_id: str,
    distributed: str,
    planned: Callable[[], Any] = lambda: None,
) -> Any:
    """The validate step for the labels in `folder`: in parts (a file each, read 50 rows at a time), each child
    then the merge, with `planned()` run once the parts are planned; a child's failure is left for the merge."""
    from mlcore.catalog import CountPartRequest, PartsPlan
    from mlcore.data import count_part, validate_step

    update = {"data": spec.data.model_copy(update={"distributed": distributed})}
    registry.put_spec(spec.model_copy(update=update), actor="test")
    request = ValidateRequest(request=PipelineInput(model_name="fraud", dataset_uri=data.uri(folder)), run_id=run_id)
    stores: dict[str, Any] = {"registry": registry, "data": data, "artifacts": artifacts, "capture": artifacts}
    plan = validate_step(request, **stores, part_bytes=1)
    if not isinstance(plan, PartsPlan):
        return plan
    planned()
    for item in json.loads(artifacts.get(plan.items_key)):
        part = CountPartRequest(model_name="fraud", run_id=run_id, part=item["part"])
        with contextlib.suppress(DataValidationError):  # written beside the plan, for the merge to name
            count_part(part, registry=registry, data=data, artifacts=artifacts, batch_rows=50)
    return validate_step(request.model_copy(update={"merge": True}), **stores)


def test_a_part_whose_labels_lack_a_time_fails_the_run_naming_the_file(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, activity: pa.Table, fraud_spec: ModelSpec
) -> None:
    # GIVEN labels in two files, the second with a row without its time
    labels = card_transactions(activity, rows=400, seed=4)
    times = labels.column("event_time").to_pylist()
    times[-1] = None
    labels = labels.set_column(
        labels.column_names.index("event_time"), "event_time", pa.array(times, labels.column("event_time").type)
    )
    folder = "datasets/fraud/20260310T120000000000Z/"
    data.put(f"{folder}a.parquet", to_parquet(labels.slice(0, 200)))
    data.put(f"{folder}b.parquet", to_parquet(labels.slice(200)))
    # WHEN they are validated in parts THEN the run fails naming the part, the file and the rows, as one pass would
    with pytest.raises(DataValidationError) as error:
        _validate_folder(registry, data, artifacts, fraud_spec, folder, "in-parts", "always")
    assert (
        "part 00001: DataValidationError: joining b.parquet: 1 label rows have no time in 'event_time'"
        in error.value.message
    )
    with pytest.raises(DataValidationError, match="1 label rows have no time in 'event_time'"):
        _validate_folder(registry, data, artifacts, fraud_spec, folder, "one-pass", "never")


def test_labels_that_break_the_contract_name_their_files_in_one_pass_as_in_parts(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    ingest: Callable[[pa.Table], Any],
    activity: pa.Table,
    fraud_spec: ModelSpec,
) -> None:
    # GIVEN the view's rows, and labels in three files: one clean; one with 5 unknown merchant categories and 3
    # labels a month after the view's last values (the view has none for them within its TTL); one without amount
    ingest(activity)
    labels = card_transactions(activity, rows=600, seed=5)
    odd = labels.slice(200, 200)
    categories = ["casino"] * 5 + odd.column("merchant_category").to_pylist()[5:]
    odd = odd.set_column(odd.column_names.index("merchant_category"), "merchant_category", pa.array(categories))
    times = odd.column("event_time").to_pylist()
    times[-3:] = [END + timedelta(days=30)] * 3
    odd = odd.set_column(
        odd.column_names.index("event_time"), "event_time", pa.array(times, odd.column("event_time").type)
    )
    folder = "datasets/fraud/20260310T120000000000Z/"
    data.put(f"{folder}a.parquet", to_parquet(labels.slice(0, 200)))
    data.put(f"{folder}b.parquet", to_parquet(odd))
    data.put(f"{folder}c.parquet", to_parquet(labels.slice(400).drop_columns(["amount"])))
    # WHEN they are validated in one pass, and in parts
    with pytest.raises(DataValidationError, match="breaks the contract") as single:
        _validate_folder(registry, data, artifacts, fraud_spec, folder, "one-pass", "never")
    with pytest.raises(DataValidationError, match="breaks the contract") as parts:
        _validate_folder(registry, data, artifacts, fraud_spec, folder, "in-parts", "always")
    # THEN both name the files the failing rows are in, and only those
    message = str(single.value)
    assert "categories(merchant_category): 5 values outside" in message and "(in b.parquet: 5)" in message
    assert "not_null(amount): 200 missing values in a non-nullable column (in c.parquet: no column amount)" in message
    found = "3 rows found no value in feature view 'card-activity' within its ttl of 48 h before their time"
    assert f"not_null(tx_count_24h): {found}" in message
    assert "ingest the view's values, or drop the rows (in b.parquet: 3)" in message
    assert "a.parquet" not in message
    assert str(parts.value).replace("in-parts", "") == message.replace("one-pass", "")


def test_a_run_whose_views_changed_after_planning_fails_rather_than_join_with_other_ones(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, activity: pa.Table, fraud_spec: ModelSpec
) -> None:
    # GIVEN labels in two files, and the view's TTL changed once the parts are planned
    labels = card_transactions(activity, rows=400, seed=4)
    folder = "datasets/fraud/20260310T120000000000Z/"
    data.put(f"{folder}a.parquet", to_parquet(labels.slice(0, 200)))
    data.put(f"{folder}b.parquet", to_parquet(labels.slice(200)))
    shorter = {"card-activity": fraud_spec.views["card-activity"].model_copy(update={"ttl_hours": 24})}
    always = fraud_spec.data.model_copy(update={"distributed": "always"})
    changed = fraud_spec.model_copy(update={"views": shorter, "data": always})
    # WHEN the parts run THEN they fail, and the run with them, saying why
    with pytest.raises(DataValidationError) as error:
        _validate_folder(
            registry,
            data,
            artifacts,
            fraud_spec,
            folder,
            "in-parts",
            "always",
            lambda: registry.put_spec(changed, actor="test"),
        )
    assert error.value.message == "the model's features_from changed since run in-parts was planned: start a new run"
    failure = json.loads(artifacts.get(part_key("fraud", "in-parts", "00000", "failure.json")))  # a child's too
    assert failure["message"] == error.value.message


def _card_value(card: str, at: datetime, count: float) -> pa.Table:
    """One row of the card-activity view: `card`'s 24-hour count at `at`."""
    moment = pa.array([at], pa.timestamp("us", tz="UTC"))
    return pa.table({"card_id": [card], "event_time": moment, "tx_count_24h": [count], "amount_mean_7d": [1.0]})


def test_each_label_gets_its_cards_newest_value_at_its_time_within_the_ttl(
    data: ObjectStore, ingest: Callable[[pa.Table], Any], activity: pa.Table, fraud_spec: ModelSpec
) -> None:
    from mlcore.data import training_set

    labels = card_transactions(activity, rows=300, seed=5)
    ingest(activity)
    joined, _ = training_set(labels, fraud_spec, data)
    ttl = timedelta(hours=fraud_spec.views["card-activity"].ttl_hours)
    expected = [_newest_before(activity, row["card_id"], row["event_time"], ttl) for row in labels.to_pylist()[:60]]
    assert joined.column("tx_count_24h").to_pylist()[:60] == expected
    assert joined.column_names == [*labels.column_names, "tx_count_24h", "amount_mean_7d"]


def test_a_new_ingest_is_new_data_for_the_same_labels(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    ingest: Callable[[pa.Table], Any],
    activity: pa.Table,
    upload_labels: Callable[[pa.Table], Any],
) -> None:
    upload_labels(card_transactions(activity, rows=400, seed=2))
    before = _validate(registry, data, artifacts, "run-1").fingerprint
    assert _validate(registry, data, artifacts, "run-2").fingerprint == before  # nothing changed
    ingest(activity.slice(0, 5))
    assert _validate(registry, data, artifacts, "run-3").fingerprint != before


def test_labels_without_the_views_entity_key_are_refused_naming_it(
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    activity: pa.Table,
    upload_labels: Callable[[pa.Table], Any],
) -> None:
    upload_labels(card_transactions(activity, rows=400, seed=2).drop_columns(["card_id"]))
    with pytest.raises(DataValidationError, match=r"entity keys: \['card_id'\] are missing"):
        _validate(registry, data, artifacts, "run-1")


def test_labels_whose_keys_the_view_does_not_know_are_refused_naming_the_view_and_the_keys(
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    activity: pa.Table,
    upload_labels: Callable[[pa.Table], Any],
) -> None:
    from mlcore.catalog import RunFile, run_key

    # GIVEN labels of which 40 name cards the view never saw (ids of another spelling)
    labels = card_transactions(activity, rows=400, seed=2)
    cards = labels.column("card_id").to_pylist()
    for i in range(0, 400, 10):
        cards[i] = cards[i].upper()
    upload_labels(labels.set_column(labels.column_names.index("card_id"), "card_id", pa.array(cards)))
    # WHEN the run validates them THEN it fails naming the view, its TTL and what the rows lack
    with pytest.raises(DataValidationError) as caught:
        _validate(registry, data, artifacts, "run-1")
    assert "not_null(tx_count_24h): 40 rows found no value in feature view 'card-activity' within its ttl of 48 h" in (
        caught.value.message
    )
    # AND the validation report's examples are the keys of the first such rows
    report = json.loads(artifacts.get(run_key("fraud", "run-1", RunFile.VALIDATION_JSON)))
    [failure] = [f for f in report["failures"] if f["column"] == "tx_count_24h"]
    assert failure["examples"] == [f"card_id {cards[i]!r}" for i in (0, 10, 20)]


# -- the online store -----------------------------------------------------------------------------


def _online(dynamodb: Any, card: str) -> tuple[int, str] | None:
    item = dynamodb.get_item(TableName="online-features", Key={"pk": {"S": online_key("card-activity", [card])}})
    found = item.get("Item")
    return (int(found["event_time"]["N"]), found["doc"]["S"]) if found else None


def _materialize(registry: Registry, data: ObjectStore, resources: Any, online_table: str) -> Any:
    return materialize_view(
        "card-activity", registry=registry, data=data, dynamodb=resources.dynamodb, table=online_table
    )


def test_materialize_keeps_each_cards_newest_values_and_reads_only_what_is_new(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    resources: Any,
    online_table: str,
    ingest: Callable[[pa.Table], Any],
    activity: pa.Table,
) -> None:
    ingest(activity)
    done = _materialize(registry, data, resources, online_table)
    assert (done.written, done.kept, done.rows) == (40, 0, activity.num_rows)
    newest = activity.filter(pc.equal(activity.column("card_id"), "c00003")).sort_by("event_time").to_pylist()[-1]
    stored = _online(resources.dynamodb, "c00003")
    assert stored is not None
    assert stored[0] == int(newest["event_time"].timestamp() * 1_000_000)
    assert f'"tx_count_24h":{newest["tx_count_24h"]}' in stored[1]
    # WHEN nothing new was ingested, nothing is read; a new ingest is read alone
    assert _materialize(registry, data, resources, online_table).files == 0
    late = pa.table(
        {
            "card_id": ["c00003", "c00004"],
            "event_time": pa.array([END - timedelta(days=3), END + timedelta(hours=1)], pa.timestamp("us", tz="UTC")),
            "tx_count_24h": [50.0, 7.0],
            "amount_mean_7d": [1.0, 2.0],
        }
    )
    ingest(late)
    again = _materialize(registry, data, resources, online_table)
    # THEN the late row of an older time leaves the newer value in place; the newer one moves its card forward
    assert (again.files, again.rows, again.written, again.kept) == (2, 2, 1, 1)
    assert _online(resources.dynamodb, "c00003") == stored
    assert registry.get_view("card-activity").materialized_through == again.through


def test_materialize_refuses_an_offline_only_view(
    registry: Registry, data: ObjectStore, resources: Any, online_table: str, view: FeatureView
) -> None:
    registry.put_view(view.model_copy(update={"online": False}), actor="test")
    with pytest.raises(BadRequestError, match="not online"):
        _materialize(registry, data, resources, online_table)


# -- enrichment at prediction -----------------------------------------------------------------------


@pytest.fixture
def fraud_service(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    capture: ObjectStore,
    resources: Any,
    online_table: str,
    ingest: Callable[[pa.Table], Any],
    activity: pa.Table,
    fraud_spec: ModelSpec,
    train_model: Callable[..., Any],
    register_model: Callable[..., Any],
) -> PredictionService:
    """GIVEN the fraud model trained on a point-in-time set, served, and its view materialized."""
    from mlcore.data import training_set

    ingest(activity)
    joined, _ = training_set(card_transactions(activity, rows=600, seed=2), fraud_spec, data)
    register_model(registry, artifacts, train_model(fraud_spec, joined))
    _materialize(registry, data, resources, online_table)
    return PredictionService(
        registry,
        artifacts,
        CaptureBuffer(capture),
        max_rows=50,
        alias_ttl_seconds=0,
        online=OnlineStore(online_table, resources.dynamodb),
    )


def _predict(service: PredictionService, *rows: dict[str, Any]) -> dict[str, Any]:
    import json

    return service.predict("fraud", json.dumps({"instances": list(rows)}), "req-1")[0]


def _set_online(resources: Any, card: str, age: timedelta, values: str) -> None:
    micros = int((datetime.now(UTC) - age).timestamp() * 1_000_000)
    resources.dynamodb.put_item(
        TableName="online-features",
        Item={"pk": {"S": online_key("card-activity", [card])}, "event_time": {"N": str(micros)}, "doc": {"S": values}},
    )


TRANSACTION = {"card_id": "c00007", "amount": 120.0, "merchant_category": "online"}


def test_a_request_with_only_the_card_id_is_answered_with_the_stored_features(
    fraud_service: PredictionService, resources: Any
) -> None:
    for card in ("c00007", "7"):
        _set_online(resources, card, timedelta(hours=1), '{"tx_count_24h":9.0,"amount_mean_7d":80.0}')
    # WHEN the card is named by its text, and (another card) by an integer
    by_key = _predict(fraud_service, TRANSACTION, {**TRANSACTION, "card_id": 7})
    explicit = {"amount": 120.0, "merchant_category": "online", "tx_count_24h": 9.0, "amount_mean_7d": 80.0}
    # THEN each is the prediction of the same row sent in full (the card id itself is no feature)
    assert by_key["probabilities"] == _predict(fraud_service, explicit, explicit)["probabilities"]
    # AND the model's description tells a client which key may stand in for which features
    described = fraud_service.describe("fraud")
    assert described["views"] == {
        "card-activity": {"entities": ["card_id"], "features": ["tx_count_24h", "amount_mean_7d"], "ttl_hours": 48.0}
    }
    assert "views" not in described["signature"][0]


@pytest.mark.parametrize(
    ("age", "ok"),
    [(timedelta(hours=48) - timedelta(seconds=2), True), (timedelta(hours=48) + timedelta(seconds=2), False)],
)
def test_a_stored_value_serves_until_its_ttl(
    fraud_service: PredictionService, resources: Any, age: timedelta, ok: bool
) -> None:
    _set_online(resources, "c00007", age, '{"tx_count_24h":9.0,"amount_mean_7d":80.0}')
    if ok:
        assert _predict(fraud_service, TRANSACTION)["predictions"]
        return
    with pytest.raises(BadRequestError) as caught:
        _predict(fraud_service, TRANSACTION)
    assert caught.value.field == "instances[0].tx_count_24h"
    assert "only a value 48.0 h old for card_id 'c00007' (its ttl is 48 h)" in caught.value.message


def test_a_stale_nullable_feature_is_a_null_and_the_client_may_send_a_feature_itself(
    fraud_service: PredictionService, resources: Any, capture: ObjectStore
) -> None:
    _set_online(resources, "c00007", timedelta(days=5), '{"tx_count_24h":9.0,"amount_mean_7d":80.0}')
    answer = _predict(fraud_service, {**TRANSACTION, "tx_count_24h": 3.0})
    assert answer["predictions"]
    # THEN the capture holds the values the model was given: the client's count, a null mean
    fraud_service.capture.flush()
    key = next(key for key in capture.list_keys("capture/model=fraud/"))
    captured = pq.read_table(io.BytesIO(capture.get(key))).to_pylist()[0]
    assert (captured["tx_count_24h"], captured["amount_mean_7d"]) == (3.0, None)
    assert "card_id" not in captured


def test_a_row_without_the_card_id_may_leave_out_a_nullable_view_feature_but_not_a_required_one(
    fraud_service: PredictionService,
) -> None:
    own = {"amount": 120.0, "merchant_category": "online"}
    # a row valid under the document's first form: every required feature sent, the nullable mean left out
    assert len(_predict(fraud_service, {**own, "tx_count_24h": 3.0})["predictions"]) == 1
    # the required count left out needs the card_id to read it by: the 400 names it
    with pytest.raises(BadRequestError, match=r"instances\[0\]\.card_id: is missing"):
        _predict(fraud_service, {**own, "amount_mean_7d": 80.0})


def test_a_champion_trained_before_the_spec_took_a_view_feature_is_served_by_keys_without_it(  # noqa: PLR0917
    fraud_service: PredictionService,
    registry: Registry,
    artifacts: ObjectStore,
    data: ObjectStore,
    resources: Any,
    activity: pa.Table,
    view: FeatureView,
    train_model: Callable[..., Any],
    register_model: Callable[..., Any],
) -> None:
    from mlcore.data import training_set

    # GIVEN v2, trained when the spec took only tx_count_24h from the view, champion under today's spec (both)
    text = FRAUD_SPEC.read_text().replace(", card-activity.amount_mean_7d]", "]")
    narrow = load_spec(text, views=lambda name: view)
    joined, _ = training_set(card_transactions(activity, rows=600, seed=2), narrow, data)
    second = register_model(registry, artifacts, train_model(narrow, joined), run_id="run-2")
    _set_online(resources, "c00007", timedelta(hours=1), '{"tx_count_24h":2.0,"amount_mean_7d":80.0}')
    # WHEN a row by its card id comes THEN v2 answers it: the count read, the mean (which v2 does not read) not
    answer = _predict(fraud_service, TRANSACTION)
    assert answer["model"] == {"name": "fraud", "version": second.version}


def test_a_champion_reads_its_views_as_trained_though_the_spec_dropped_a_view_feature_since(
    fraud_service: PredictionService, registry: Registry, resources: Any, view: FeatureView
) -> None:
    # GIVEN v1, trained on the count and the mean, serving; then the spec registered again without the mean
    narrow = load_spec(FRAUD_SPEC.read_text().replace(", card-activity.amount_mean_7d]", "]"), views=lambda name: view)
    registry.put_spec(narrow, actor="test")
    _set_online(resources, "c00007", timedelta(hours=1), '{"tx_count_24h":9.0,"amount_mean_7d":80.0}')
    # WHEN a row comes by its card id THEN v1 is given both of its view features, as when sent in full
    explicit = {"amount": 120.0, "merchant_category": "online", "tx_count_24h": 9.0, "amount_mean_7d": 80.0}
    assert _predict(fraud_service, TRANSACTION)["probabilities"] == _predict(fraud_service, explicit)["probabilities"]
    # AND the description tells a client the same
    features = fraud_service.describe("fraud")["views"]["card-activity"]["features"]
    assert features == ["tx_count_24h", "amount_mean_7d"]


def test_the_capture_holds_the_values_read_from_the_online_store(
    fraud_service: PredictionService, resources: Any, capture: ObjectStore
) -> None:
    _set_online(resources, "c00007", timedelta(hours=1), '{"tx_count_24h":9.0,"amount_mean_7d":80.0}')
    _predict(fraud_service, TRANSACTION)
    fraud_service.capture.flush()
    key = next(key for key in capture.list_keys("capture/model=fraud/"))
    captured = pq.read_table(io.BytesIO(capture.get(key))).to_pylist()[0]
    assert (captured["tx_count_24h"], captured["amount_mean_7d"]) == (9.0, 80.0)


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"amount": 1.0, "merchant_category": "online"}, "instances[0].card_id", "is missing: the entity key of"),
        ({**TRANSACTION, "card_id": ""}, "instances[0].card_id", "is missing: the entity key"),
        (
            {**TRANSACTION, "card_id": ["c00003"]},
            "instances[0].card_id",
            "expected a text or an integer (the entity key of feature view 'card-activity'), got list",
        ),
        ({**TRANSACTION, "card_id": 3.5}, "instances[0].card_id", "got float"),
        ({**TRANSACTION, "card_id": 7.0}, "instances[0].tx_count_24h", "has no value for card_id '7'"),  # 7's key
        ({**TRANSACTION, "card_id": "c99999"}, "instances[0].tx_count_24h", "has no value for card_id 'c99999'"),
    ],
)
def test_a_row_the_store_cannot_complete_is_a_400_naming_the_field(
    fraud_service: PredictionService, row: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        _predict(fraud_service, row)
    assert caught.value.field == field
    assert message in caught.value.message


def test_an_online_store_that_stays_throttled_is_a_dependency_error() -> None:
    class Throttled:
        calls = 0

        def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            self.calls += 1
            return {"Responses": {}, "UnprocessedKeys": RequestItems}

    client = Throttled()
    with pytest.raises(DependencyError, match="unprocessed"):
        OnlineStore("online-features", client).get(['card-activity#["c1"]'])
    assert client.calls == 3


def test_many_keys_are_read_in_batches_of_a_hundred(resources: Any, online_table: str) -> None:
    for index in range(150):
        _set_online(resources, f"c{index:05d}", timedelta(hours=1), f'{{"tx_count_24h":{index}.0}}')
    keys = [online_key("card-activity", [f"c{index:05d}"]) for index in range(160)]
    found = OnlineStore(online_table, resources.dynamodb).get(keys)
    assert len(found) == 150
    assert found[keys[42]][1] == {"tx_count_24h": 42.0}


# -- the feature store's tick ------------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "stale"), [(48, False), (48.01, True)])
def test_the_tick_reports_a_view_stale_once_its_newest_value_is_older_than_its_ttl(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, resources: Any, online_table: str, ingest: Callable[[pa.Table], Any],
    activity: pa.Table, hours: float, stale: bool,
) -> None:  # fmt: skip
    from mlcore.features import materialize_online_views

    ingest(activity)
    newest = activity.column("event_time").to_pylist()[-1]
    run = materialize_online_views(registry=registry, data=data, dynamodb=resources.dynamodb, table=online_table,
                                   now=newest + timedelta(hours=hours))  # fmt: skip
    [view] = run.views
    assert (view.view, view.written, view.stale, view.age_hours) == ("card-activity", 40, stale, round(hours, 3))
    assert registry.get_view("card-activity").newest_event_at == newest.isoformat()


def test_the_tick_materializes_the_views_it_can_names_the_one_it_cannot_and_skips_offline_ones(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, resources: Any, online_table: str, ingest: Callable[[pa.Table], Any],
    activity: pa.Table, view: FeatureView,
) -> None:  # fmt: skip
    from mlcore.features import materialize_online_views

    ingest(activity)
    registry.put_view(view.model_copy(update={"name": "broken-view"}), actor="test")
    data.put("features/broken-view/date=2026-03-01/20260301T000000000000Z-x.parquet", b"not parquet")
    data.put("features/_ingests/broken-view/20260301T000000000000Z-x.json", b"{}")
    registry.put_view(view.model_copy(update={"name": "offline-view", "online": False}), actor="test")
    run = materialize_online_views(registry=registry, data=data, dynamodb=resources.dynamodb, table=online_table)
    views = {v.view: v for v in run.views}
    assert set(views) == {"card-activity", "broken-view"}
    assert views["card-activity"].written == 40 and views["card-activity"].error is None
    assert "DataValidationError: the feature view file s3://" in str(views["broken-view"].error)
    assert views["broken-view"].written == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": "drop"}, "takes 'tx_count_24h' (numeric) from view 'card-activity', which this update drops"),
        ({"features": "retype"}, "which this update retypes as categorical"),
        (
            {"entities": ["account_id"]},
            "reads view 'card-activity' by ['card_id'] at 'event_time': "
            "register the view under a new name to change its keys or its time",
        ),
    ],
)
def test_a_view_update_that_would_break_a_model_using_it_is_refused(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    view: FeatureView,
    fraud_spec: ModelSpec,
    churn_spec: ModelSpec,
    change: dict[str, Any],
    message: str,
) -> None:
    from mlcore.errors import ConflictError
    from mlcore.spec import Feature

    registry.put_spec(churn_spec, actor="test")  # a model without views, listed before fraud: it is passed over

    features = [f for f in view.features if f.name != "tx_count_24h"]
    if change.get("features") == "retype":
        features.append(Feature(name="tx_count_24h", type="categorical", allow_unseen=True))
    update = {**change, "features": features} if "features" in change else change
    with pytest.raises(ConflictError, match=re.escape(message)):
        registry.put_view(view.model_copy(update=update), actor="test")
    assert registry.get_view("card-activity").view == view
    # AND a change the models do not feel is taken
    registry.put_view(view.model_copy(update={"ttl_hours": 72, "description": "longer"}), actor="test")
    assert registry.get_view("card-activity").view.ttl_hours == 72


def test_a_view_update_that_would_break_an_approved_version_is_refused_until_it_is_archived(
    fraud_service: PredictionService, registry: Registry, view: FeatureView
) -> None:
    from mlcore.errors import ConflictError

    # GIVEN v1 (trained on the mean) approved and serving, and the spec registered again without the mean
    narrow = load_spec(FRAUD_SPEC.read_text().replace(", card-activity.amount_mean_7d]", "]"), views=lambda name: view)
    registry.put_spec(narrow, actor="test")
    without_mean = view.model_copy(update={"features": [f for f in view.features if f.name != "amount_mean_7d"]})
    # WHEN the view would drop the mean, or read it as a category THEN it is refused: v1 may serve again (it does now)
    with pytest.raises(ConflictError, match=re.escape(
        "version 1 of 'fraud' (approved: it may serve) takes 'amount_mean_7d' (numeric) from view 'card-activity', "
        "which this update drops: archive or reject the version first, or register a new view"
    )):  # fmt: skip
        registry.put_view(without_mean, actor="test")
    retyped = [f.model_copy(update={"type": "categorical", "min": None, "max": None}) if f.name == "amount_mean_7d"
               else f for f in view.features]  # fmt: skip
    with pytest.raises(ConflictError, match=r"takes 'amount_mean_7d' \(numeric\) .* which this update retypes as"):
        registry.put_view(view.model_copy(update={"features": retyped}), actor="test")
    # AND once v1 is archived, it is taken
    registry.set_status("fraud", 1, VersionStatus.ARCHIVED, actor="test")
    registry.put_view(without_mean, actor="test")
    assert registry.get_view("card-activity").view.feature_names == ["tx_count_24h"]


def test_a_version_pending_a_decision_keeps_its_view_features_too(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    artifacts: ObjectStore,
    data: ObjectStore,
    view: FeatureView,
    fraud_spec: ModelSpec,
    ingest: Callable[[pa.Table], Any],
    activity: pa.Table,
    train_model: Callable[..., Any],
    register_model: Callable[..., Any],
) -> None:
    from mlcore.data import training_set
    from mlcore.errors import ConflictError

    # GIVEN a version trained on the mean, pending a decision, and the spec no longer taking the mean
    ingest(activity)
    joined, _ = training_set(card_transactions(activity, rows=600, seed=2), fraud_spec, data)
    register_model(registry, artifacts, train_model(fraud_spec, joined), promote=False, status=VersionStatus.PENDING)
    narrow = load_spec(FRAUD_SPEC.read_text().replace(", card-activity.amount_mean_7d]", "]"), views=lambda name: view)
    registry.put_spec(narrow, actor="test")
    without_mean = view.model_copy(update={"features": [f for f in view.features if f.name != "amount_mean_7d"]})
    # WHEN the view would drop the mean THEN it is refused: approved, the version would serve without it
    with pytest.raises(ConflictError, match=re.escape("version 1 of 'fraud' (pending_approval: it may serve) takes")):
        registry.put_view(without_mean, actor="test")


def test_a_view_a_model_is_served_by_may_not_go_offline(
    registry: Registry, view: FeatureView, fraud_spec: ModelSpec
) -> None:
    from mlcore.errors import ConflictError

    with pytest.raises(ConflictError, match=re.escape(
        "model 'fraud' is served by the keys of view 'card-activity', from its online store: an offline view"
    )):  # fmt: skip
        registry.put_view(view.model_copy(update={"online": False}), actor="test")
    assert registry.get_view("card-activity").view.online
    # AND a view nobody reads goes offline
    registry.put_view(view.model_copy(update={"name": "spare"}), actor="test")
    registry.put_view(view.model_copy(update={"name": "spare", "online": False}), actor="test")
    assert not registry.get_view("spare").view.online


def test_a_views_registration_and_updates_are_audited_under_it_and_each_write_answers_its_current_revision(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcore.catalog import ViewDriftCheck
    from mlcore.errors import ConflictError, NotFoundError
    from mlcore.registry import utc_now

    drift_check = ViewDriftCheck(
        view="card-activity", checked_at="2026-01-02T00:00:00Z", window=("2026-01-01", "2026-01-02"),
        reference=("2025-12-31", "2026-01-01"), rows=10, reference_rows=10, status="ok",
    )  # fmt: skip
    view = load_view(CARD_VIEW.read_text())
    registered = registry.put_view(view, actor="alice")
    before_update = utc_now()
    offline = view.model_copy(update={"online": False, "ttl_hours": 72})
    updated = registry.put_view(offline, actor="bob")
    # `mlops features show` lists the trail: who registered and who changed the view, with what it serves
    trail = [(a.action, a.actor, a.details) for a in registry.view_audit_trail(view.name)]
    assert [(action, actor) for action, actor, _ in trail] == [("view_registered", "alice"), ("view_updated", "bob")]
    assert [(d["online"], d["features"]) for _, _, d in trail] == [
        (True, view.feature_names),
        (False, view.feature_names),
    ]
    # each with what it changed (a registration: every value), as a model's spec changes are recorded
    assert {"path": "ttl_hours", "from": None, "to": 48.0} in trail[0][2]["diff"]
    assert trail[1][2]["diff"] == [
        {"path": "online", "from": True, "to": False},
        {"path": "ttl_hours", "from": 48.0, "to": 72.0},
    ]
    assert registry.audit_trail(view.name) == []  # not under a model of the same name
    stored = registry.get_view(view.name)
    assert stored.view == offline and stored.updated_at >= before_update > registered.updated_at
    # the record a write answers is the stored revision: the next write on it is taken, a stale one refused
    done = registry.set_materialized(updated, {"materialized_through": "ingest-1"})
    assert registry.get_view(view.name).materialized_through == "ingest-1"
    registry.set_materialized(done, {"materialized_through": "ingest-2"})
    with pytest.raises(ConflictError, match="changed while it was materialized"):
        registry.set_materialized(updated, {"materialized_through": "ingest-0"})
    with pytest.raises(ConflictError, match="changed while it was materialized"):
        registry.set_materialized(registered, {"materialized_through": "ingest-0"})
    # a registration that read the view before another one wrote it is refused, naming the view
    monkeypatch.setattr(registry, "find_view", lambda name: updated)
    with pytest.raises(ConflictError, match="feature view 'card-activity' changed concurrently"):
        registry.put_view(view, actor="carol")
    monkeypatch.undo()
    assert registry.get_view(view.name).materialized_through == "ingest-2"  # nothing of the refused write
    with pytest.raises(ConflictError, match=r"^feature view 'card-activity' changed while it was checked for drift$"):
        registry.set_view_drift(updated, drift_check)
    with pytest.raises(NotFoundError, match=r"^feature view 'nope' is not registered \(mlops features register"):
        registry.get_view("nope")
    assert len(registry.view_audit_trail(view.name)) == 2


# -- found in review: schema growth, corrections, bad keys, clocks ahead ------------------------------


def _rows(cards: list[str], at: datetime, counts: list[float], **extra: list[Any]) -> pa.Table:
    return pa.table({"card_id": cards, "event_time": pa.array([at] * len(cards), pa.timestamp("us", tz="UTC")),
                     "tx_count_24h": counts, "amount_mean_7d": [1.0] * len(cards), **extra})  # fmt: skip


def test_a_correction_ingested_again_with_the_same_time_replaces_the_online_value(
    registry: Registry, data: ObjectStore, resources: Any, online_table: str, ingest: Callable[[pa.Table], Any]
) -> None:
    ingest(_rows(["c1"], END, [5.0]))
    _materialize(registry, data, resources, online_table)
    ingest(_rows(["c1"], END, [6.0]))  # the same event, corrected
    assert _materialize(registry, data, resources, online_table).written == 1
    stored = _online(resources.dynamodb, "c1")
    assert stored is not None and '"tx_count_24h":6.0' in stored[1]


def test_files_ingested_before_a_view_gained_a_feature_read_as_nulls_of_it(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, resources: Any, online_table: str, ingest: Callable[[pa.Table], Any],
    view: FeatureView,
) -> None:  # fmt: skip
    from mlcore.spec import Feature

    ingest(_rows(["c1"], END, [5.0]))
    grown = view.model_copy(update={"features": [*view.features, Feature(name="merchants_7d", type="numeric",
                                                                         nullable=True)]})  # fmt: skip
    registry.put_view(grown, actor="test")
    assert _materialize(registry, data, resources, online_table).written == 1
    stored = _online(resources.dynamodb, "c1")
    assert stored is not None and '"merchants_7d":null' in stored[1]


def test_one_views_aws_error_leaves_the_other_views_materialized(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, resources: Any, online_table: str, ingest: Callable[[pa.Table], Any],
    view: FeatureView, glue: Any,
) -> None:  # fmt: skip
    from mlcore.features import materialize_online_views

    ingest(_rows(["c1"], END, [5.0]))
    other = view.model_copy(update={"name": "long-keys"})
    registry.put_view(other, actor="test")
    # a key DynamoDB refuses (over 2048 bytes): its PutItem fails with a ClientError
    ingest_rows(other, _rows(["x" * 3000], END, [1.0]), data=data, glue=glue, database=DATABASE)
    run = materialize_online_views(registry=registry, data=data, dynamodb=resources.dynamodb, table=online_table)
    views = {v.view: v for v in run.views}
    assert views["card-activity"].written == 1 and views["card-activity"].error is None
    assert "ClientError" in str(views["long-keys"].error)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**TRANSACTION, "card_id": "x" * 1025}, "is longer than 1024 bytes"),
        ({**TRANSACTION, "card_id": "c00008"}, "only a value stamped 2.0 h in the future"),
    ],
)
def test_a_key_too_long_or_a_value_from_the_future_is_a_400(
    fraud_service: PredictionService, resources: Any, row: dict[str, Any], message: str
) -> None:
    _set_online(resources, "c00008", -timedelta(hours=2), '{"tx_count_24h":9.0,"amount_mean_7d":80.0}')
    with pytest.raises(BadRequestError, match=re.escape(message)):
        _predict(fraud_service, row)


def test_labels_without_rows_are_a_data_validation_error(data: ObjectStore, fraud_spec: ModelSpec) -> None:
    from mlcore.data import training_set

    empty = card_transactions(card_activity(2, 1, END, 1)[0], rows=5, seed=1).slice(0, 0)
    with pytest.raises(DataValidationError, match="no rows"):
        training_set(empty, fraud_spec, data)


def test_an_ingest_is_read_only_once_complete_and_a_late_finisher_is_not_skipped(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, resources: Any, online_table: str, view: FeatureView, glue: Any
) -> None:
    def ingest_at(started: datetime, card: str) -> Any:
        return ingest_rows(view, _rows([card], END, [1.0]), data=data, glue=glue, database=DATABASE, now=started)

    # GIVEN an ingest whose files are written but not yet its marker (the tick runs in the middle of it)
    slow = ingest_at(END, "c-slow")
    marker = f"features/_ingests/card-activity/{slow.ingest}.json"
    document = data.get(marker)
    resources.s3.delete_object(Bucket=data.bucket, Key=marker)
    # AND a later-started ingest that finished first
    ingest_at(END + timedelta(minutes=5), "c-fast")
    first = _materialize(registry, data, resources, online_table)
    assert (first.files, _online(resources.dynamodb, "c-slow")) == (1, None)  # the incomplete one is not read
    # WHEN the slow ingest completes after the tick recorded the later one
    data.put(marker, document)
    # THEN the next tick materializes it: nothing ingested is left out of the online store
    assert _materialize(registry, data, resources, online_table).files == 1
    assert _online(resources.dynamodb, "c-slow") is not None
    assert _materialize(registry, data, resources, online_table).files == 0


# -- enrichment in batch scoring --------------------------------------------------------------------


def test_a_batch_row_by_card_id_gets_what_its_card_knew_at_the_batchs_time_and_never_later(
    data: ObjectStore, ingest: Callable[[pa.Table], Any], activity: pa.Table, fraud_spec: ModelSpec
) -> None:
    from mlcore.batch import with_view_features

    ingest(activity)
    as_of = END - timedelta(hours=3)  # the batch was planned 3 hours before the view's last values
    # the leakage trap: a value of 999 for c00001, a microsecond after the batch's time
    after = pa.array([as_of + timedelta(microseconds=1)], pa.timestamp("us", tz="UTC"))
    ingest(pa.table({"card_id": ["c00001"], "event_time": after, "tx_count_24h": [999.0], "amount_mean_7d": [1.0]}))
    cards = ["c00001", "c00002", "c00003", "nobody"]
    rows = pa.table({"card_id": cards, "amount": [10.0, 20.0, 30.0, 40.0], "merchant_category": ["online"] * 4})
    # the third row brings its own time (a day earlier); the others take the batch's
    rows = rows.append_column(
        "event_time", pa.array([None, None, as_of - timedelta(days=1), None], pa.timestamp("us", tz="UTC"))
    )
    cache: dict[tuple[Any, ...], Any] = {}
    enriched, _ = with_view_features(rows, "in/a.parquet", fraud_spec, data=data, as_of=as_of, cache=cache)
    ttl = timedelta(hours=fraud_spec.views["card-activity"].ttl_hours)
    times = [as_of, as_of, as_of - timedelta(days=1), as_of]
    expected = [_newest_before(activity, card, at, ttl) for card, at in zip(cards, times, strict=True)]
    assert enriched.column("tx_count_24h").to_pylist() == expected
    assert expected[0] is not None and expected[3] is None  # a known card in time; an unknown one: null
    assert 999.0 not in enriched.column("tx_count_24h").to_pylist()  # the trap, after the batch's time
    # a file that carries a view's feature keeps its own values (the others are still joined)
    sent = rows.append_column("tx_count_24h", pa.array([1.0, 2.0, 3.0, 4.0]))
    kept, _ = with_view_features(sent, "in/b.parquet", fraud_spec, data=data, as_of=as_of, cache=cache)
    assert kept.column("tx_count_24h").to_pylist() == [1.0, 2.0, 3.0, 4.0]
    assert kept.column("amount_mean_7d").to_pylist() == enriched.column("amount_mean_7d").to_pylist()
    # the cache holds one window per view (and features): rows of other times replace it, so it stays one window
    window: dict[tuple[Any, ...], Any] = {}
    with_view_features(rows, "in/a.parquet", fraud_spec, data=data, as_of=as_of, cache=window)
    first = set(window)
    days_before = pa.array([as_of - timedelta(days=3)] * 4, pa.timestamp("us", tz="UTC"))
    earlier = rows.set_column(rows.schema.get_field_index("event_time"), "event_time", days_before)
    joined, _ = with_view_features(earlier, "in/d.parquet", fraud_spec, data=data, as_of=as_of, cache=window)
    assert len(window) == 1 and set(window) != first
    then = [_newest_before(activity, card, as_of - timedelta(days=3), ttl) for card in cards]
    assert joined.column("tx_count_24h").to_pylist() == then and then[0] is not None
    # an empty file (a header-only CSV) has nothing to join, and stays empty
    assert (
        with_view_features(rows.slice(0, 0), "in/e.csv", fraud_spec, data=data, as_of=as_of, cache={})[0].num_rows == 0
    )
    # a file without the card id cannot be enriched: refused naming the file and the key
    with pytest.raises(DataValidationError, match=r"the rows of in/c.parquet need view 'card-activity''s entity keys"):
        with_view_features(rows.drop_columns(["card_id"]), "in/c.parquet", fraud_spec, data=data, as_of=as_of, cache={})
    # unless it carries every required feature of the view: the nullable ones it leaves out are missing, as the
    # API takes such a row
    counted = rows.drop_columns(["card_id"]).append_column("tx_count_24h", pa.array([1.0, 2.0, 3.0, 4.0]))
    alone, _ = with_view_features(counted, "in/f.parquet", fraud_spec, data=data, as_of=as_of, cache={})
    assert alone.column_names == counted.column_names  # nothing joined
    # a time written that is none fails the file, rather than read the features as of the batch's time
    written = ["", None, "Jan 1 2020", "01/01/2020 00:00:00"]
    unreadable = rows.set_column(rows.schema.get_field_index("event_time"), "event_time", pa.array(written))
    with pytest.raises(
        DataValidationError, match=r"rows of in/g.csv: 2 values of event_time are no time \('Jan 1 2020', '01/01/2020"
    ):
        with_view_features(unreadable, "in/g.csv", fraud_spec, data=data, as_of=as_of, cache={})
    # (empty cells are no time written: the batch's)
    blank = rows.set_column(rows.schema.get_field_index("event_time"), "event_time", pa.array(["", None, " ", None]))
    assert with_view_features(blank, "in/h.csv", fraud_spec, data=data, as_of=as_of, cache={})[0].num_rows == 4


def test_a_window_a_day_later_reads_only_the_view_file_it_did_not_hold(
    data: ObjectStore,
    ingest: Callable[[pa.Table], Any],
    activity: pa.Table,
    fraud_spec: ModelSpec,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlcore.batch import with_view_features

    # GIVEN the view ingested (a file per day), and the files each join reads counted
    ingest(activity)
    got: list[str] = []
    get = data.get
    monkeypatch.setattr(data, "get", lambda key: got.append(key) or get(key))
    rows = pa.table({"card_id": ["c00001", "c00002"], "amount": [1.0, 2.0], "merchant_category": ["online"] * 2})
    cache: dict[tuple[Any, ...], Any] = {}
    # WHEN rows are joined as of one day, then as of the next with the same cache (the 48 h TTL: 3 days of files)
    with_view_features(rows, "in/a.parquet", fraud_spec, data=data, as_of=END - timedelta(days=2), cache=cache)
    first, got[:] = list(got), []
    later, _ = with_view_features(
        rows, "in/b.parquet", fraud_spec, data=data, as_of=END - timedelta(days=1), cache=cache
    )
    # THEN the second join reads only the day it did not hold, and joins what a join from nothing joins
    assert (len(first), len(got)) == (3, 1) and got[0] not in first
    fresh, _ = with_view_features(rows, "in/b.parquet", fraud_spec, data=data, as_of=END - timedelta(days=1), cache={})
    assert later.equals(fresh)


def _plan_fraud_batch(registry: Registry, data: ObjectStore, batch_id: str) -> Any:
    """The plan of a batch of the fraud model over `batches/fraud/in/`."""
    from mlcore.batch import plan_batch
    from mlcore.catalog import BatchRequest, PlanBatchRequest

    request = BatchRequest(
        model_name="fraud", input=data.uri("batches/fraud/in/"), output=data.uri("batches/fraud/out/")
    )
    return plan_batch(PlanBatchRequest(request=request, batch_id=batch_id), registry=registry, data=data)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".text.parquet"])
def test_a_batch_row_whose_time_cell_is_empty_is_refused_not_read_as_of_the_batchs_time(  # noqa: PLR0917
    fraud_service: PredictionService,
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    ingest: Callable[[pa.Table], Any],
    suffix: str,
) -> None:
    from mlcore.batch import score_chunk

    # GIVEN a card's fresh values, and a batch file with a time column, one row's time cell empty
    fresh = datetime.now(UTC) - timedelta(hours=1)
    ingest(pa.table({"card_id": ["c00001"], "event_time": pa.array([fresh], pa.timestamp("us", tz="UTC")),
                     "tx_count_24h": [4.0], "amount_mean_7d": [30.0]}))  # fmt: skip
    times = [fresh + timedelta(minutes=5), None, fresh + timedelta(minutes=9)]
    rows = pa.table({"card_id": ["c00001"] * 3, "amount": [15.0, 20.0, 25.0], "merchant_category": ["grocery"] * 3,
                     "event_time": pa.array(times, pa.timestamp("us", tz="UTC"))})  # fmt: skip
    if suffix == ".text.parquet":  # times as text, the empty one a null (a pandas object column)
        text = pa.array([None if t is None else t.isoformat() for t in times], pa.string())
        rows = rows.set_column(rows.column_names.index("event_time"), "event_time", text)
    written = csv_bytes(rows) if suffix == ".csv" else to_parquet(rows)
    suffix = suffix.replace(".text", "")
    data.put(f"batches/fraud/in/a{suffix}", written)
    planned = _plan_fraud_batch(registry, data, "20261207T000000Z-time01")
    # WHEN it is scored
    result = score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    # THEN the row without a time is refused naming the column (it was scored with the card's newest values)
    assert (result.read, result.scored, result.rejected) == (3, 2, 1)
    [reject] = [json.loads(line) for line in data.get(str(result.rejects_key)).splitlines()]
    assert (reject["row_id"], reject["field"]) == (f"a{suffix}:1", "event_time")
    assert reject["reason"].startswith("event_time: is empty: the features from views are read as of a row's time")
    assert reject["row"]["card_id"] == "c00001"
    predictions = pq.read_table(io.BytesIO(data.get(str(result.predictions_key))))
    assert predictions.column("row_id").to_pylist() == [f"a{suffix}:0", f"a{suffix}:2"]


def test_a_batch_of_card_ids_is_scored_as_the_api_scores_the_same_rows_in_full(
    fraud_service: PredictionService,
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    ingest: Callable[[pa.Table], Any],
) -> None:
    from mlcore.batch import score_chunk

    # GIVEN fresh values of two cards (the third card's are weeks old, past the view's TTL)
    fresh = pa.array([datetime.now(UTC) - timedelta(hours=1)] * 2, pa.timestamp("us", tz="UTC"))
    ingest(pa.table({"card_id": ["c00001", "c00002"], "event_time": fresh, "tx_count_24h": [4.0, 12.0],
                     "amount_mean_7d": [30.0, 90.0]}))  # fmt: skip
    rows = pa.table({"card_id": ["c00001", "c00002", "c00003"], "amount": [15.0, 900.0, 50.0],
                     "merchant_category": ["grocery", "online", "travel"]})  # fmt: skip
    data.put("batches/fraud/in/a.parquet", to_parquet(rows))
    # WHEN a batch of card ids only is planned and scored
    planned = _plan_fraud_batch(registry, data, "20261205T000000Z-feat01")
    result = score_chunk(planned.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    # THEN the two cards with fresh values are scored, and the third is refused naming the feature it lacks
    assert (result.read, result.scored, result.rejected) == (3, 2, 1)
    [reject] = [json.loads(line) for line in data.get(str(result.rejects_key)).splitlines()]
    assert (reject["row_id"], reject["field"]) == ("a.parquet:2", "tx_count_24h")
    # in the API's words, with the card's id (the API: "feature view ... has only a value ... h old for card_id ...")
    assert reject["reason"] == (
        "tx_count_24h: feature view 'card-activity' has no value for card_id 'c00003' within its ttl of 48 h before "
        "the row's time: send the feature, or ingest the view"
    )
    assert reject["row"]["card_id"] == "c00003"
    # AND a row that sends the feature itself, as null, is refused as the API refuses such a row
    sent = rows.append_column("tx_count_24h", pa.array([None, 12.0, 3.0], pa.float64()))
    data.put("batches/fraud/in/a.parquet", to_parquet(sent))
    again = _plan_fraud_batch(registry, data, "20261205T000000Z-feat02")
    second = score_chunk(again.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    [own] = [json.loads(line) for line in data.get(str(second.rejects_key)).splitlines()]
    assert (own["row_id"], own["reason"]) == ("a.parquet:0", "tx_count_24h: is required and may not be null")
    # AND a row without its key is refused as the API refuses it: the key is missing
    keyless = rows.set_column(0, "card_id", pa.array([None, "c00002", "c00003"], pa.string()))
    data.put("batches/fraud/in/a.parquet", to_parquet(keyless))
    third = _plan_fraud_batch(registry, data, "20261205T000000Z-feat03")
    result_3 = score_chunk(third.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
    rejected = {r["row_id"]: r for r in map(json.loads, data.get(str(result_3.rejects_key)).splitlines())}
    assert (rejected["a.parquet:0"]["field"], rejected["a.parquet:0"]["reason"]) == (
        "card_id", "card_id: is missing: the entity key of feature view 'card-activity'"
    )  # fmt: skip
    # AND the scores are the API's for the same rows sent in full
    predictions = pq.read_table(io.BytesIO(data.get(str(result.predictions_key))))
    full = [
        {"amount": 15.0, "merchant_category": "grocery", "tx_count_24h": 4.0, "amount_mean_7d": 30.0},
        {"amount": 900.0, "merchant_category": "online", "tx_count_24h": 12.0, "amount_mean_7d": 90.0},
    ]
    answered = _predict(fraud_service, *full)
    assert predictions.column("prediction").to_pylist() == answered["predictions"]
    scores = [p["yes"] for p in answered["probabilities"]]
    assert predictions.column("score").to_pylist() == pytest.approx(scores, abs=1e-6)  # float32, other threads
