"""A CSV read a block at a time (a part's check, a batch's scoring) types its columns as a whole read does."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infra.local.example_data import EXAMPLE_SPEC
from mlcore.data import iter_file
from mlcore.errors import DataValidationError
from mlcore.spec import load_spec

ROWS = 150_000  # ~1.6 MB: more than the reader's first block (1 MiB), which fixes the columns' types


def write_csv(path: Path, late_note: str, late_id: str) -> None:
    lines = ["age,note,id", *(f"{i % 90},,{i}" for i in range(ROWS)), f"40,{late_note},{late_id}"]
    path.write_text("\n".join(lines) + "\n")


def test_a_column_empty_in_the_first_block_is_read_as_text_not_refused(tmp_path: Path) -> None:
    # GIVEN a CSV whose `note` (not a spec column) is empty for its first 150,000 rows, then says something
    path = tmp_path / "a.csv"
    write_csv(path, late_note="call back", late_id="7")
    # WHEN it is read a batch at a time
    tables = list(iter_file(str(path), "in/a.csv", "a.csv", load_spec(EXAMPLE_SPEC.read_text()), 65_536))
    # THEN every row is read, the note as text with its late value, the spec's feature as a number
    assert len(tables) > 1 and sum(t.num_rows for t in tables) == ROWS + 1
    assert {t.schema.field("note").type for t in tables} == {pa.string()}
    assert tables[-1].column("note").to_pylist()[-1] == "call back"
    assert tables[0].schema.field("age").type == pa.float64()


def test_a_column_whose_later_values_change_type_fails_naming_the_file(tmp_path: Path) -> None:
    # GIVEN a CSV whose `id` is a number for 150,000 rows and then text (its first block said int64)
    path = tmp_path / "b.csv"
    write_csv(path, late_note="", late_id="A-7")
    # WHEN it is read a batch at a time THEN the read fails naming the file and the column's value
    with pytest.raises(DataValidationError, match=r"dataset 'in/b\.csv' cannot be read: .*'A-7'"):
        list(iter_file(str(path), "in/b.csv", "b.csv", load_spec(EXAMPLE_SPEC.read_text()), 65_536))


def test_a_column_asked_for_as_text_is_read_as_written_whatever_comes_later(tmp_path: Path) -> None:
    # GIVEN a CSV whose `id` is a number for its first block, then text, and last an id with leading zeros
    path = tmp_path / "b.csv"
    write_csv(path, late_note="", late_id="007")
    lines = path.read_text().splitlines()
    lines[-2] = lines[-2].rsplit(",", 1)[0] + ",A-7"
    path.write_text("\n".join(lines) + "\n")
    # WHEN it is read a batch at a time with `id` as text (a batch's kept column)
    tables = list(iter_file(str(path), "in/b.csv", "b.csv", load_spec(EXAMPLE_SPEC.read_text()), 65_536, text={"id"}))
    # THEN every row is read, each id as written: no inferred number, no lost zero, no error at the late text
    assert {t.schema.field("id").type for t in tables} == {pa.string()}
    ids = [value for t in tables for value in t.column("id").to_pylist()]
    assert len(ids) == ROWS + 1 and ids[:2] == ["0", "1"] and ids[-2:] == ["A-7", "007"]
    assert tables[0].schema.field("age").type == pa.float64()  # the spec's columns keep the spec's types


def test_only_the_columns_asked_for_are_read_so_another_cannot_fail_the_read(tmp_path: Path) -> None:
    # GIVEN the CSV above whose `id` turns to text after the first block, and the same rows as Parquet
    spec = load_spec(EXAMPLE_SPEC.read_text())
    path = tmp_path / "b.csv"
    write_csv(path, late_note="call back", late_id="A-7")
    parquet = tmp_path / "b.parquet"
    pq.write_table(pa.table({"age": [1.0, 2.0], "note": ["x", "y"], "id": [1, 2]}), parquet)
    # WHEN only `age` and `note` are asked for (and `region`, which the files lack)
    wanted = {"age", "note", "region"}
    from_csv = list(iter_file(str(path), "in/b.csv", "b.csv", spec, 65_536, columns=wanted))
    from_parquet = list(iter_file(str(parquet), "in/b.parquet", "b.parquet", spec, 65_536, columns=wanted))
    # THEN every row is read, with those columns only
    assert sum(t.num_rows for t in from_csv) == ROWS + 1
    assert {tuple(t.column_names) for t in from_csv} == {("age", "note")}
    assert from_parquet[0].column_names == ["age", "note"] and from_parquet[0].num_rows == 2


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_row_of_another_width_than_the_header_fails_naming_its_line(tmp_path: Path, suffix: str) -> None:
    import gzip

    from mlcore.data import read_table

    # GIVEN a CSV with a cell that spans two lines, an empty line, and late in the file a row with an unquoted comma
    lines = ["age,note,id", '1,"two\nlines",1', "", *(f"{i % 90},,{i}" for i in range(ROWS)), "40,call, back,7"]
    text = ("\n".join(lines) + "\n").encode()
    raw = gzip.compress(text) if suffix.endswith(".gz") else text
    path = tmp_path / f"c{suffix}"
    path.write_bytes(raw)
    # WHEN it is read, a block at a time or whole THEN the read fails naming the file and the row's line
    bad = ROWS + 5  # the header, two lines of the first row, the empty line, the rows, then this one
    where = rf"dataset 'in/c{suffix}' cannot be read: line {bad}: CSV parse error: Expected 3 columns, got 4: "
    where += "40,call, back,7"
    with pytest.raises(DataValidationError, match=where.replace(".", r"\.")):
        list(iter_file(str(path), f"in/c{suffix}", f"c{suffix}", load_spec(EXAMPLE_SPEC.read_text()), 65_536))
    with pytest.raises(DataValidationError, match=where.replace(".", r"\.")):
        read_table(raw, f"in/c{suffix}")


def test_a_stray_quote_before_a_misshapen_row_still_fails_naming_the_file(tmp_path: Path) -> None:
    # GIVEN a CSV of more than a block with an unclosed quote early (Arrow reads a block's lines apart; Python's csv
    # reads the rest of the file as one cell) and a row of three cells later
    path = tmp_path / "d.csv"
    lines = ["age,note,id", '1,"12 inch,1', *(f"{i % 90},,{i}" for i in range(ROWS)), "40,a,7,extra"]
    path.write_text("\n".join(lines) + "\n")
    # WHEN it is read THEN the read fails naming the file, without a line it cannot name (and without crashing)
    with pytest.raises(DataValidationError, match=r"^dataset 'in/d\.csv' cannot be read: CSV parse error") as caught:
        list(iter_file(str(path), "in/d.csv", "d.csv", load_spec(EXAMPLE_SPEC.read_text()), 65_536))
    assert "line " not in str(caught.value).split("CSV parse error")[0]
