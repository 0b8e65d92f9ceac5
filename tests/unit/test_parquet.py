"""The numpy-only Parquet writer: what it writes, pyarrow reads back unchanged."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcore.serving import write_parquet
from mlcore.serving.parquet import REPEATS, Runs

AT = datetime(2025, 3, 1, 23, 59, 59, 123000, tzinfo=UTC)


def read(columns: list[tuple[str, str, list[Any]]]) -> pa.Table:
    return pq.read_table(io.BytesIO(write_parquet(columns)))


def test_every_kind_round_trips_with_nulls() -> None:
    at_ms = int(AT.timestamp() * 1000)
    table = read(
        [
            ("count", "int64", [0, -3, None, 2**62, -(2**63)]),
            ("score", "double", [1.5, -0.0, None, 1e300, 5e-324]),
            ("name", "string", ["plain", "日本語 ✓", None, "", "emoji 🚀"]),
            ("at", "timestamp_ms", [at_ms, 0, None, at_ms + 1, -1000]),
        ]
    )
    assert table.schema == pa.schema(
        [("count", pa.int64()), ("score", pa.float64()), ("name", pa.string()), ("at", pa.timestamp("ms", tz="UTC"))]
    )
    assert table.column("count").to_pylist() == [0, -3, None, 2**62, -(2**63)]
    assert table.column("score").to_pylist() == [1.5, -0.0, None, 1e300, 5e-324]
    assert table.column("name").to_pylist() == ["plain", "日本語 ✓", None, "", "emoji 🚀"]
    assert table.column("at").to_pylist()[:3] == [AT, datetime(1970, 1, 1, tzinfo=UTC), None]
    assert table.column("at").cast(pa.int64()).to_pylist() == [at_ms, 0, None, at_ms + 1, -1000]


def test_nan_is_a_value_not_a_null() -> None:
    [value] = read([("x", "double", [math.nan])]).column("x").to_pylist()
    assert math.isnan(value)


@pytest.mark.parametrize("kind", ["int64", "double", "string", "timestamp_ms"])
def test_a_column_of_only_nulls(kind: str) -> None:
    column = read([("x", kind, [None] * 7)]).column("x")
    assert column.null_count == 7
    assert column.to_pylist() == [None] * 7


def test_zero_rows_keep_the_schema() -> None:
    table = read([("count", "int64", []), ("name", "string", [])])
    assert table.num_rows == 0
    assert table.column_names == ["count", "name"]
    assert table.schema.field("name").type == pa.string()


def test_twenty_thousand_rows_with_scattered_nulls() -> None:
    rows = 20_000
    ints = [i if i % 7 else None for i in range(rows)]
    doubles = [i / 3 if i % 11 else None for i in range(rows)]
    strings = [f"row-{i}-é" if i % 13 else None for i in range(rows)]
    table = read([("i", "int64", ints), ("d", "double", doubles), ("s", "string", strings)])
    assert table.num_rows == rows
    assert table.column("i").to_pylist() == ints
    assert table.column("d").to_pylist() == doubles
    assert table.column("s").to_pylist() == strings


@pytest.mark.parametrize(
    "values",
    [
        ["a", "", "bb", "ccc" * 100, "a"],  # ASCII only: lengths taken from the text
        ["a", "é", "", "日本", "z"],  # a multi-byte value among ASCII ones: lengths taken from the bytes
        ["é", "a"],  # the multi-byte value first
    ],
)
def test_strings_without_nulls_keep_their_lengths(values: list[str]) -> None:
    # GIVEN a string column with no null, of values of different lengths in bytes
    # WHEN it is written and read back
    # THEN every value comes back whole, none running into its neighbour
    assert read([("s", "string", values)]).column("s").to_pylist() == values


# laid out from the distinct values from REPEATS copies of each, value by value below
@pytest.mark.parametrize("copies", [REPEATS - 1, REPEATS, 10])
def test_repeated_strings_round_trip(copies: int) -> None:
    # GIVEN a string column of a few values, each repeated (a request's id, a category), some multi-byte, one empty
    distinct = ["req-1.1000.mac", "日本", "", "é-x"]
    values: list[str | None] = [distinct[i % len(distinct)] for i in range(len(distinct) * copies)]
    # and the same values with nulls between them
    with_nulls = [v for i, value in enumerate(values) for v in ((None, value) if i % 3 == 0 else (value,))]
    # WHEN written and read back, THEN every value (and null) is where it was
    assert read([("s", "string", values)]).column("s").to_pylist() == values
    assert read([("s", "string", with_nulls)]).column("s").to_pylist() == with_nulls


def test_many_columns_and_metadata() -> None:
    columns: list[tuple[str, str, list[Any]]] = [(f"c{i}", "double", [float(i), None]) for i in range(20)]
    data = write_parquet(columns, created_by="unit test")
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert (metadata.num_columns, metadata.num_rows, metadata.num_row_groups) == (20, 2, 1)
    assert metadata.created_by == "unit test"
    assert pq.read_table(io.BytesIO(data)).to_pydict() == {f"c{i}": [float(i), None] for i in range(20)}


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="column 'b' has 1 values, expected 2"):
        write_parquet([("a", "int64", [1, 2]), ("b", "int64", [1])])


@pytest.mark.parametrize(
    ("kind", "values", "counts"),
    [
        ("string", ["req-1.3.mac", "req-2.1.mac", "ü-req", "req-1.3.mac"], [3, 1, 2, 4]),
        ("string", [None, "champion", None], [2, 5, 1]),  # runs of nulls among values
        ("string", [None], [6]),  # a shadow's labels when there is no shadow
        ("int64", [7, None, -2], [2, 3, 1]),
        ("double", [1.5, None], [4, 2]),
        ("string", [], []),
    ],
)
def test_a_column_given_as_runs_is_the_file_of_its_values_row_by_row(
    kind: str, values: list[Any], counts: list[int]
) -> None:
    expanded = [value for value, count in zip(values, counts, strict=True) for _ in range(count)]
    runs = Runs(values, counts)
    assert list(runs) == expanded and len(runs) == len(expanded) and runs[-3:] == expanded[-3:]
    assert write_parquet([("x", kind, runs)]) == write_parquet([("x", kind, expanded)])
    assert read([("x", kind, runs)]).column("x").to_pylist() == expanded  # type: ignore[list-item]


def test_numbers_from_arrays_are_written_as_from_lists() -> None:
    """Numbers are laid out from the array's own buffer (no copy): the same bytes as from a list."""
    values = np.array([0.5, np.nan, -3.25, 1e300])
    assert write_parquet([("x", "double", values)]) == write_parquet([("x", "double", [0.5, None, -3.25, 1e300])])
    integers = np.arange(5, dtype=np.int64)[::2]  # a strided view
    assert write_parquet([("n", "int64", integers)]) == write_parquet([("n", "int64", [0, 2, 4])])
