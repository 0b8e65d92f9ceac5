"""The train/holdout split: random, stratified and time, each row in exactly one side."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlcore.data import as_timestamps, split_holdout
from mlcore.errors import DataValidationError, SpecError
from mlcore.spec import ModelSpec, parse_spec

START = datetime(2025, 1, 1, tzinfo=UTC)


def spec_of(churn_spec: ModelSpec, **data: Any) -> ModelSpec:
    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    return parse_spec({**raw, "data": {**raw["data"], **data}})


def table(rows: int, positives: int) -> pa.Table:
    return pa.table(
        {
            "row_id": np.arange(rows),
            "churned": ["yes"] * positives + ["no"] * (rows - positives),
            "at": [(START + timedelta(hours=i)).isoformat(timespec="seconds")[:19] for i in range(rows)],
        }
    )


@pytest.mark.parametrize("mode", ["random", "stratified", "time"])
def test_every_row_lands_in_exactly_one_side(churn_spec: ModelSpec, mode: str) -> None:
    spec = spec_of(churn_spec, split=mode, timestamp_column="at", holdout_fraction=0.25)
    data = table(401, 57)
    train, holdout = split_holdout(data, spec, as_timestamps(data.column("at")))
    ids = train.column("row_id").to_pylist() + holdout.column("row_id").to_pylist()
    assert sorted(ids) == list(range(401))  # disjoint and complete
    assert holdout.num_rows == round(401 * 0.25)


@pytest.mark.parametrize(("rows", "positives"), [(1000, 100), (999, 7), (40, 3)])
def test_a_stratified_holdout_holds_each_class_in_its_share(churn_spec: ModelSpec, rows: int, positives: int) -> None:
    spec = spec_of(churn_spec, split="stratified", holdout_fraction=0.2)
    _, holdout = split_holdout(table(rows, positives), spec)
    assert holdout.column("churned").to_pylist().count("yes") == round(positives * 0.2)
    assert holdout.column("churned").to_pylist().count("no") == round((rows - positives) * 0.2)


def test_a_time_holdout_is_the_future_of_its_training_rows(churn_spec: ModelSpec) -> None:
    spec = spec_of(churn_spec, split="time", timestamp_column="at", holdout_fraction=0.1)
    data = table(500, 50).take(np.random.default_rng(3).permutation(500))  # rows in no particular order
    train, holdout = split_holdout(data, spec, as_timestamps(data.column("at")))
    assert max(train.column("at").to_pylist()) < min(holdout.column("at").to_pylist())
    assert sorted(holdout.column("row_id").to_pylist()) == list(range(450, 500))


def test_a_time_split_writes_both_sides_oldest_first(churn_spec: ModelSpec) -> None:
    spec = spec_of(churn_spec, split="time", timestamp_column="at", holdout_fraction=0.2)
    data = table(300, 30).take(np.random.default_rng(5).permutation(300))
    train, holdout = split_holdout(data, spec, as_timestamps(data.column("at")))
    assert train.column("row_id").to_pylist() == list(range(240))
    assert holdout.column("row_id").to_pylist() == list(range(240, 300))


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_cross_validation_after_a_time_split_scores_each_fold_on_rows_newer_than_it_fits_on(
    churn_spec: ModelSpec, folds: int
) -> None:
    from mlcore.training import fold_splitter

    target = np.array(["yes", "no"] * 50)
    timed = list(fold_splitter(spec_of(churn_spec, split="time", timestamp_column="at"), target, folds).split(target))
    assert len(timed) == folds
    assert all(fitted.max() < scored.min() for fitted, scored in timed)  # the rows are oldest first
    # the other splits shuffle: some fold fits on rows after those it is scored on
    shuffled = list(fold_splitter(spec_of(churn_spec, split="random"), target, folds).split(target, target))
    assert len(shuffled) == folds
    assert any(fitted.max() > scored.min() for fitted, scored in shuffled)


def test_rows_without_a_readable_time_stay_in_training(churn_spec: ModelSpec) -> None:
    spec = spec_of(churn_spec, split="time", timestamp_column="at", holdout_fraction=0.5)
    data = table(4, 1).set_column(2, "at", pa.array(["2025-01-02T00:00:00", "not a time", None, "2025-01-01T00:00:00"]))
    train, holdout = split_holdout(data, spec, as_timestamps(data.column("at")))
    assert (train.column("row_id").to_pylist(), holdout.column("row_id").to_pylist()) == ([1, 2], [3, 0])


def test_a_time_split_without_timestamps_is_refused(churn_spec: ModelSpec) -> None:
    spec = spec_of(churn_spec, split="time", timestamp_column="at")
    with pytest.raises(DataValidationError) as caught:
        split_holdout(table(10, 2), spec)
    assert caught.value.field == "data.timestamp_column"


def test_the_random_split_is_the_one_earlier_versions_made(churn_spec: ModelSpec) -> None:
    # runs before the split modes drew the same holdout: rng(seed).permutation(n)[:cut]
    spec = spec_of(churn_spec, holdout_fraction=0.2, seed=42)
    _, holdout = split_holdout(table(100, 10), spec)
    expected = np.sort(np.random.default_rng(42).permutation(100)[:20])
    assert holdout.column("row_id").to_pylist() == expected.tolist()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"split": "time"}, "data.split: 'time' needs data.timestamp_column"),
        ({"split": "shuffled"}, "Input should be 'random', 'stratified' or 'time'"),
        ({"cv_folds": 1}, "greater than or equal to 2"),
    ],
)
def test_split_settings_are_checked_with_the_spec(churn_spec: ModelSpec, data: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec_of(churn_spec, **data)


def test_times_are_read_value_by_value_when_one_cannot_be_read() -> None:
    from datetime import UTC, datetime

    import pyarrow as pa

    at = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    written = [
        "2026-01-31T12:00:00",  # the usual form, read at once
        "2026-01-31T12:00:00Z",  # a zone (mixed with values without one, which no cast of the column reads)
        "2026-01-31T14:00:00+02:00",
        "2026-01-31T12:00:00.250000Z",
        " 2026-01-31T12:00:00 ",  # spaces around
        "2026-01-31",
        "yesterday",  # no time: null, and only it
        None,
        "9999-12-31T23:59:59-05:00",  # past year 9999 in UTC: null, not an error
    ]
    read = as_timestamps(pa.chunked_array([written])).to_pylist()
    assert read[:5] == [at, at, at, at.replace(microsecond=250000), at]
    assert read[5] == datetime(2026, 1, 31, tzinfo=UTC)
    assert read[6:] == [None, None, None]
