"""Which dataset an object belongs to, and the partitions its path names."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcore.data import dataset_root, file_columns, folder_sha256, hive_partitions


@pytest.mark.parametrize(
    ("key", "root"),
    [
        ("datasets/churn/20250301.csv", "datasets/churn/20250301.csv"),  # a file right under the prefix
        ("datasets/churn/drop-1/part-0.parquet", "datasets/churn/drop-1/"),
        ("datasets/churn/drop-1/dt=2025-03-01/region=north/part-0.parquet", "datasets/churn/drop-1/"),
    ],
)
def test_a_file_in_a_folder_belongs_to_the_folder_right_under_the_models_prefix(key: str, root: str) -> None:
    assert dataset_root("churn", key) == root


def test_hive_folders_name_columns_and_other_folders_do_not() -> None:
    assert hive_partitions("dt=2025-03-01/region=north/part-0.parquet") == {"dt": "2025-03-01", "region": "north"}
    assert hive_partitions("2025/03/part-0.parquet") == {}
    assert hive_partitions("part-0.parquet") == {}
    assert hive_partitions("k=a=b/x.csv") == {"k": "a=b"}  # the first = splits


def test_a_folders_fingerprint_is_of_its_paths_and_contents_in_any_order() -> None:
    files = [("b.parquet", "2" * 64), ("a.parquet", "1" * 64)]
    assert folder_sha256(files) == folder_sha256(files[::-1])
    assert folder_sha256(files) != folder_sha256([("c.parquet", "2" * 64), ("a.parquet", "1" * 64)])  # renamed
    assert folder_sha256(files) != folder_sha256([("b.parquet", "3" * 64), ("a.parquet", "1" * 64)])  # changed


def test_a_files_column_names_are_read_without_its_rows(tmp_path: Path) -> None:
    header = 'Age,"plan, basic",churned\n'
    (tmp_path / "a.csv").write_text(header + "30,x,no\n")
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(header.encode()))
    pq.write_table(pa.table({"Age": [30], "plan": ["x"]}), tmp_path / "a.parquet")
    assert file_columns(str(tmp_path / "a.csv"), "d/a.csv") == ["Age", "plan, basic", "churned"]
    assert file_columns(str(tmp_path / "a.csv.gz"), "d/a.csv.gz") == ["Age", "plan, basic", "churned"]
    assert file_columns(str(tmp_path / "a.parquet"), "d/a.parquet") == ["Age", "plan"]


def test_a_header_that_is_not_utf8_or_a_file_that_is_not_there_gives_what_can_be_read(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(b"\xc2ge,plan\n30,x\n")  # Latin-1's "Âge": a hint, never an error
    assert file_columns(str(tmp_path / "latin.csv"), "d/latin.csv") == ["\ufffdge", "plan"]
    assert file_columns(str(tmp_path / "gone.parquet"), "d/gone.parquet") == []
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    assert file_columns(str(tmp_path / "bad.parquet"), "d/bad.parquet") == []
