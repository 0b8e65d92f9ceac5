"""The contract counted by parts and merged reports what one pass over the whole table reports."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.local.example_data import churn_table
from mlcore.data import check_contract, concat_dataset, contract_report, count_contract, merge_counts
from mlcore.spec import ModelSpec, parse_spec

ROWS = 400
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def dirty_table() -> pa.Table:
    """Every kind of finding, spread over the rows: out of range, unknown category, fractions, missing values,
    rows without target or with a label outside the classes, repeated ids (across the table), and timestamps."""
    table = churn_table(ROWS, seed=7)
    columns: dict[str, list[Any]] = {name: table.column(name).to_pylist() for name in table.column_names}
    for row in range(0, ROWS, 37):
        columns["age"][row] = 150  # above max
    for row in range(5, ROWS, 53):
        columns["plan"][row] = "platinum"  # unknown category
    for row in range(3, ROWS, 41):
        columns["support_calls"][row] = 2.5  # not whole
    for row in range(11, ROWS, 29):
        columns["tenure_months"][row] = None  # missing in a non-nullable column
    for row in range(17, ROWS, 61):
        columns["churned"][row] = None
    for row in range(23, ROWS, 71):
        columns["churned"][row] = "maybe"  # a label outside the spec's classes
    columns["customer_id"] = [row % 350 for row in range(ROWS)]  # the last 50 repeat the first 50
    columns["updated_at"] = [(NOW - timedelta(hours=ROWS - row)).isoformat() for row in range(ROWS)]
    return pa.table(columns)


def with_table_checks(churn_spec: ModelSpec) -> ModelSpec:
    """Uniqueness of the customer id, freshness of `updated_at`, and more rows than there are."""
    raw = churn_spec.model_dump(mode="json")
    raw["data"] = {**raw["data"], "unique": ["customer_id"], "timestamp_column": "updated_at", "max_age_hours": 0.5,
                   "min_rows": 500}  # fmt: skip
    return parse_spec({**raw, "classes": ["no", "yes"]})


@pytest.fixture
def spec(churn_spec: ModelSpec) -> ModelSpec:
    return with_table_checks(churn_spec)


def merged_report(parts: list[pa.Table], spec: ModelSpec) -> Any:
    return contract_report(merge_counts(count_contract(part, spec)[0] for part in parts), spec, now=NOW)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=ROWS), max_size=6))
def test_any_split_into_parts_reports_what_one_pass_reports(churn_spec: ModelSpec, cuts: list[int]) -> None:
    spec = with_table_checks(churn_spec)
    table = dirty_table()
    bounds = [0, *sorted(cuts), ROWS]
    parts = [table.slice(start, end - start) for start, end in itertools.pairwise(bounds)]
    _, single = check_contract(table, spec, now=NOW)
    assert single.failures  # every kind of finding is there to be merged
    assert merged_report(parts, spec) == single


def test_a_column_missing_from_some_files_is_missing_values_there_and_from_all_a_missing_column(
    spec: ModelSpec,
) -> None:
    table = dirty_table()
    first, second = table.slice(0, 150), table.slice(150).drop_columns(["region"])
    # as files of one dataset: the column is null where a file lacks it
    _, single = check_contract(concat_dataset([first, second]), spec, now=NOW)
    assert merged_report([first, second], spec) == single
    region = [f for f in single.failures if f.column == "region"]
    assert [(f.check, f.failed_rows) for f in region] == [("not_null", ROWS - 150)]
    # missing from every file: a missing column, not missing values
    gone = [first.drop_columns(["region"]), second]
    _, single = check_contract(concat_dataset(gone), spec, now=NOW)
    assert merged_report(gone, spec) == single
    assert [(f.check, f.failed_rows) for f in single.failures if f.column == "region"] == [("column_present", ROWS)]


def test_a_column_unreadable_in_one_part_reports_only_its_unreadable_values(spec: ModelSpec) -> None:
    table = dirty_table()
    ages = [str(v) for v in table.column("age").to_pylist()]
    ages[300] = "forty"
    text = table.set_column(table.column_names.index("age"), "age", pa.array(ages))
    parts = [text.slice(0, 200), text.slice(200)]
    _, single = check_contract(text, spec, now=NOW)
    assert merged_report(parts, spec) == single
    assert [(f.check, f.failed_rows, f.examples) for f in single.failures if f.column == "age"] == [
        ("dtype", 1, ["forty"])
    ]


def test_the_profile_sketch_merges_to_the_whole_tables(spec: ModelSpec) -> None:
    table = dirty_table()
    whole = count_contract(table, spec)[0].sketches
    merged = merge_counts(count_contract(part, spec)[0] for part in (table.slice(0, 123), table.slice(123))).sketches
    assert merged["plan"] == whole["plan"]
    age, merged_age = whole["age"], merged["age"]
    assert (merged_age.count, merged_age.missing, merged_age.min, merged_age.max) == (
        age.count, age.missing, age.min, age.max,
    )  # fmt: skip
    assert merged_age.total == pytest.approx(age.total) and merged_age.squares == pytest.approx(age.squares)


def test_each_failure_keeps_its_first_rows_and_a_split_keeps_them_in_the_whole_tables_count(spec: ModelSpec) -> None:
    table = dirty_table()
    _, single = check_contract(table, spec, now=NOW)
    rows = {(f.check, f.column): f.rows for f in single.failures}
    assert rows[("not_null", "tenure_months")] == [11, 40, 69]  # a missing value has no example, but a row
    assert rows[("categories", "plan")] == [5, 58, 111]
    assert rows[("classes", "churned")] == [23, 94, 165]
    assert rows[("not_null", "churned")] == [17, 78, 139]  # a row without a label: no value to show, but where
    # parts count their own rows from 0; merged, each part's follow the parts before it
    merged = merged_report([table.slice(0, 50), table.slice(50)], spec)
    assert {(f.check, f.column): f.rows for f in merged.failures}[("categories", "plan")] == [5, 58, 111]


@pytest.mark.parametrize(("value", "hint"), [("Premium", " ('Premium': did you mean 'premium'? "), ("premiums", "")])
def test_a_category_in_other_letter_case_is_pointed_at_the_listed_one(spec: ModelSpec, value: str, hint: str) -> None:
    table = churn_table(50, seed=3)
    plans = [value, *table.column("plan").to_pylist()[1:]]
    _, report = check_contract(table.set_column(table.column_names.index("plan"), "plan", pa.array(plans)), spec)
    [failure] = [f for f in report.failures if f.check == "categories"]
    assert failure.message.startswith(f"1 values outside ['basic', 'standard', 'premium']{hint}")
    assert ("did you mean" in failure.message) is bool(hint)


def test_a_label_in_other_letter_case_is_pointed_at_the_class(spec: ModelSpec) -> None:
    table = churn_table(50, seed=3)
    labels = ["Yes", *table.column("churned").to_pylist()[1:]]
    _, report = check_contract(table.set_column(table.column_names.index("churned"), "churned", pa.array(labels)), spec)
    [failure] = [f for f in report.failures if f.check == "classes"]
    assert failure.message.endswith(" ('Yes': did you mean 'yes'? labels match case and all)")
