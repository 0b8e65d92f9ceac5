"""The data contract: each check with exact counts and examples, warnings apart from blocking failures."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from infra.local.example_data import churn_table
from mlcore.data import check_contract, checked_files, enforce_contract, in_files, named_like, read_table
from mlcore.errors import DataValidationError
from mlcore.spec import ModelSpec, Severity, parse_spec

ROWS = 600


@pytest.fixture
def table() -> pa.Table:
    return churn_table(ROWS, seed=3)


def replace(table: pa.Table, name: str, values: list[Any]) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, pa.array(values))


def with_values(table: pa.Table, name: str, changes: dict[int, Any]) -> pa.Table:
    values = table.column(name).to_pylist()
    for row, value in changes.items():
        values[row] = value
    return replace(table, name, values)


def failures(table: pa.Table, spec: ModelSpec, check: str) -> list[Any]:
    _, report = check_contract(table, spec)
    return [f for f in report.failures if f.check == check]


def spec_with(spec: ModelSpec, **feature_changes: dict[str, Any]) -> ModelSpec:
    raw = spec.model_dump(mode="json")
    for feature in raw["features"]:
        feature.update(feature_changes.get(feature["name"], {}))
    return parse_spec(raw)


def test_clean_dataset_passes_and_is_cast_to_contract_types(table: pa.Table, churn_spec: ModelSpec) -> None:
    clean, report = check_contract(table.append_column("customer_id", pa.array(range(ROWS))), churn_spec)
    assert report.failures == []
    assert report.summary() == "all checks passed"
    assert report.rows == ROWS
    assert report.columns == 9
    assert clean.column_names == [*churn_spec.feature_names, "churned"]
    assert clean.schema.field("tenure_months").type == pa.float64()
    assert clean.schema.field("plan").type == pa.string()


def test_range_check_counts_every_value_outside_and_shows_examples(table: pa.Table, churn_spec: ModelSpec) -> None:
    broken = with_values(table, "monthly_charges", {0: -5.0, 10: 750.0, 20: 900.0, 30: 1200.0, 40: 501.0})
    found = failures(broken, churn_spec, "range")
    below, above = sorted(found, key=lambda f: f.message)
    assert (above.failed_rows, above.message) == (4, "4 values above max 500.0")
    assert above.examples == [750.0, 900.0, 1200.0]  # the first three, in row order
    assert (below.failed_rows, below.examples) == (1, [-5.0])
    assert {f.column for f in found} == {"monthly_charges"}


def test_integer_check_flags_fractional_values(table: pa.Table, churn_spec: ModelSpec) -> None:
    broken = with_values(table, "support_calls", {1: 2.5, 2: 0.1})
    [failure] = failures(broken, churn_spec, "integer")
    assert (failure.column, failure.failed_rows, failure.examples) == ("support_calls", 2, [2.5, 0.1])


def test_an_infinite_value_fails_the_contract_of_a_numeric_feature_even_without_bounds(
    table: pa.Table, churn_spec: ModelSpec
) -> None:
    # data_usage_gb has no max (inf is within its bounds); inf and -inf are no values a request may send, nor a fit take
    broken = with_values(table, "data_usage_gb", {3: float("inf"), 7: float("-inf"), 9: 1e308})
    [failure] = failures(broken, churn_spec, "finite")
    assert (failure.column, failure.failed_rows, failure.examples) == (
        "data_usage_gb",
        2,
        [float("inf"), float("-inf")],
    )
    assert failures(broken, churn_spec, "range") == []  # -inf is below its min 0, but counted once, as infinite


def test_not_null_check_counts_missing_values_only_where_not_nullable(table: pa.Table, churn_spec: ModelSpec) -> None:
    broken = with_values(table, "age", {3: None, 4: None, 5: None})
    broken = with_values(broken, "data_usage_gb", dict.fromkeys(range(50)))  # nullable: no failure
    [failure] = failures(broken, churn_spec, "not_null")
    assert (failure.column, failure.failed_rows) == ("age", 3)


def test_rows_without_target_are_blocking(table: pa.Table, churn_spec: ModelSpec) -> None:
    [failure] = failures(with_values(table, "churned", {0: None}), churn_spec, "not_null")
    assert (failure.column, failure.failed_rows, failure.severity) == ("churned", 1, Severity.BLOCKING)


def test_a_label_outside_the_classes_is_blocking_and_shown(table: pa.Table, churn_spec: ModelSpec) -> None:
    # GIVEN a spec that lists its classes, and two rows labelled otherwise (and one without a label)
    spec = parse_spec({**churn_spec.model_dump(mode="json"), "classes": ["no", "yes"]})
    broken = with_values(table, "churned", {4: "maybe", 9: "Yes", 12: None})
    # THEN both are counted and shown, the missing label apart (it is not_null's)
    [failure] = failures(broken, spec, "classes")
    assert (failure.column, failure.failed_rows, failure.severity) == ("churned", 2, Severity.BLOCKING)
    assert (failure.message, failure.examples) == (
        "2 rows have a target outside ['no', 'yes'] ('Yes': did you mean 'yes'? labels match case and all)",
        ["maybe", "Yes"],
    )
    # AND a dataset whose labels are all listed passes; without `classes` any label does
    assert failures(table, spec, "classes") == []
    assert failures(broken, churn_spec, "classes") == []
    # AND served traffic (no target) is not checked for it
    _, traffic = check_contract(broken.drop_columns(["churned"]), spec, require_target=False)
    assert [f for f in traffic.failures if f.check == "classes"] == []


def test_categories_check_counts_unknown_values(table: pa.Table, churn_spec: ModelSpec) -> None:
    broken = with_values(table, "plan", {7: "gold", 8: "platinum", 9: "gold"})
    broken = with_values(broken, "region", {7: "mars"})  # allow_unseen: no failure
    [failure] = failures(broken, churn_spec, "categories")
    assert (failure.column, failure.failed_rows, failure.examples) == ("plan", 3, ["gold", "platinum", "gold"])


def test_dtype_check_reports_a_column_that_cannot_be_read_as_a_number(table: pa.Table, churn_spec: ModelSpec) -> None:
    broken = replace(table, "age", ["forty"] + [str(v) for v in table.column("age").to_pylist()[1:]])
    clean, report = check_contract(broken, churn_spec)
    [failure] = [f for f in report.failures if f.check == "dtype"]
    assert failure.column == "age"
    assert "cannot be read as integer" in failure.message
    assert "age" not in clean.column_names


def test_dtype_check_counts_the_unreadable_values_exactly(table: pa.Table, churn_spec: ModelSpec) -> None:
    broken = replace(table, "age", ["forty"] + [str(v) for v in table.column("age").to_pylist()[1:]])
    [failure] = failures(broken, churn_spec, "dtype")
    assert (failure.failed_rows, failure.examples) == (1, ["forty"])


def test_missing_columns_are_blocking_and_named(table: pa.Table, churn_spec: ModelSpec) -> None:
    _, report = check_contract(table.drop_columns(["region", "churned"]), churn_spec)
    missing = [f for f in report.failures if f.check == "column_present"]
    assert [(f.column, f.failed_rows) for f in missing] == [("region", ROWS), ("churned", ROWS)]
    assert all(f.severity is Severity.BLOCKING for f in missing)
    assert {f.message for f in missing} == {"column is missing"}
    assert report.summary() == "column_present(region): column is missing; column_present(churned): column is missing"


def test_a_missing_column_points_at_one_the_data_names_almost_alike(table: pa.Table, churn_spec: ModelSpec) -> None:
    renamed = table.rename_columns(
        ["Age" if c == "age" else "region " if c == "region" else "churnd" if c == "churned" else c
         for c in table.column_names]
    )  # fmt: skip
    _, report = check_contract(renamed, churn_spec)
    messages = {f.column: f.message for f in report.failures if f.check == "column_present"}
    exactly = ": a column's name must be the spec's exactly)"
    assert messages == {
        "age": "column is missing (the data has 'Age'" + exactly,  # case
        "region": "column is missing (the data has 'region '" + exactly,  # a space
        "churned": "column is missing (the data has 'churnd'" + exactly,  # a typo
    }


@pytest.mark.parametrize(
    ("name", "columns", "hint"),
    [
        ("age", ["Age", "plan"], "Age"),
        ("age", [" AGE", "plan"], " AGE"),
        ("monthly_spend", ["monthly_spnd"], "monthly_spnd"),
        ("age", ["plan", "page_views"], None),  # not alike enough
        ("plan", ["plan_type"], None),
        ("age", [], None),
        ("feature_10", ["feature_12"], None),  # digits alone differ: another column
        ("income_2023", ["income_2024", "Income_2023"], "Income_2023"),
        ("age", ["age"], None),  # the name itself (present only in a part without rows): no hint
    ],
)
def test_named_like_finds_a_name_differing_in_case_spaces_or_a_letter(
    name: str, columns: list[str], hint: str | None
) -> None:
    found = named_like(name, columns)
    assert found == ("" if hint is None else f" (the data has {hint!r}: a column's name must be the spec's exactly)")


def test_target_is_optional_for_served_traffic(table: pa.Table, churn_spec: ModelSpec) -> None:
    clean, report = check_contract(table.drop_columns(["churned"]), churn_spec, require_target=False)
    assert report.failures == []
    assert "churned" not in clean.column_names


def test_row_count_minimum_and_maximum(churn_spec: ModelSpec) -> None:
    [too_few] = failures(churn_table(499, seed=1), churn_spec, "row_count")
    assert too_few.message == "499 rows, the contract needs at least 500"
    capped = parse_spec({**churn_spec.model_dump(mode="json"), "data": {"min_rows": 100, "max_rows": 550}})
    [too_many] = failures(churn_table(600, seed=1), capped, "row_count")
    assert (too_many.failed_rows, too_many.message) == (50, "600 rows, the contract allows at most 550")
    assert failures(churn_table(550, seed=1), capped, "row_count") == []


def test_warning_severity_reports_without_blocking(table: pa.Table, churn_spec: ModelSpec) -> None:
    # GIVEN a feature whose rules only warn
    spec = spec_with(churn_spec, age={"severity": "warning"})
    broken = with_values(table, "age", {0: 150.0, 1: 5.0})
    # WHEN the dataset breaks them
    clean, report = enforce_contract(broken, spec)
    # THEN the warnings are reported, and the data goes through
    assert [(f.check, f.column) for f in report.warnings] == [("range", "age"), ("range", "age")]
    assert report.blocking == []
    assert clean.num_rows == ROWS


def test_enforce_contract_lists_every_blocking_failure(table: pa.Table, churn_spec: ModelSpec) -> None:
    broken = with_values(table, "plan", {0: "gold"})
    broken = with_values(broken, "tenure_months", {0: -1.0, 1: -2.0})
    with pytest.raises(DataValidationError) as caught:
        enforce_contract(broken, churn_spec)
    message = caught.value.message
    assert "categories on plan: 1 values outside ['basic', 'standard', 'premium']" in message
    assert "range on tenure_months: 2 values below min 0.0" in message
    assert caught.value.status == 422


def _csv(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def test_read_table_reads_csv_gzip_and_parquet(table: pa.Table) -> None:
    import gzip

    parquet = io.BytesIO()
    pq.write_table(table, parquet)
    assert read_table(_csv(table), "d.csv").num_rows == ROWS
    assert read_table(gzip.compress(_csv(table)), "d.csv.gz").num_rows == ROWS
    from_parquet = read_table(parquet.getvalue(), "d.parquet")
    assert from_parquet.schema == table.schema
    assert from_parquet.column("plan").equals(table.column("plan"))


def test_read_table_refuses_unknown_formats() -> None:
    with pytest.raises(DataValidationError, match=r"unsupported dataset format for 'd\.xlsx'"):
        read_table(b"", "d.xlsx")


def table_spec(spec: ModelSpec, **data: Any) -> ModelSpec:
    document = spec.model_dump(mode="json")
    document["data"] = {**document["data"], **data}
    return parse_spec(document)


def test_uniqueness_counts_the_repeats_and_shows_the_repeated_values(table: pa.Table, churn_spec: ModelSpec) -> None:
    ids = list(range(table.num_rows))
    ids[5] = ids[7] = 4  # 4 appears three times
    ids[9] = 8  # 8 twice
    spec = table_spec(churn_spec, unique=["customer_id"])
    [failure] = failures(table.append_column("customer_id", pa.array(ids)), spec, "unique")
    assert (failure.column, failure.failed_rows, sorted(failure.examples)) == ("customer_id", 3, [4, 8])


def test_freshness_refuses_stale_data_and_accepts_fresh(table: pa.Table, churn_spec: ModelSpec) -> None:
    from datetime import UTC, datetime

    spec = table_spec(churn_spec, timestamp_column="updated_at", max_age_hours=24)
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    stale = table.append_column("updated_at", pa.array(["2026-11-20T10:00:00"] * table.num_rows))
    _, report = check_contract(stale, spec, now=now)
    [failure] = [f for f in report.failures if f.check == "freshness"]
    assert failure.severity is Severity.BLOCKING and "170.0 h old" in failure.message
    fresh = table.append_column("updated_at", pa.array([datetime(2026, 11, 27, 9, 0)] * table.num_rows))
    assert [f for f in check_contract(fresh, spec, now=now)[1].failures if f.check == "freshness"] == []
    assert "column is missing" in check_contract(table, spec, now=now)[1].failures[0].message


def test_table_level_checks_can_be_warnings(table: pa.Table, churn_spec: ModelSpec) -> None:
    spec = table_spec(churn_spec, min_rows=10_000, severity="warning")
    _, report = check_contract(table, spec)
    [row_count] = [f for f in report.failures if f.check == "row_count"]
    assert row_count.severity is Severity.WARNING and report.blocking == []


def test_a_null_in_a_nullable_categorical_is_not_an_unknown_category(table: pa.Table, churn_spec: ModelSpec) -> None:
    spec = spec_with(churn_spec, region={"nullable": True, "allow_unseen": False})
    regions = table.column("region").to_pylist()
    regions[:5] = [None] * 5
    regions[5] = "atlantis"
    _, report = check_contract(replace(table, "region", regions), spec)
    assert [(f.check, f.failed_rows) for f in report.failures] == [("categories", 1)]


# -- CSV read with the spec's types ----------------------------------------------------------------

PASSENGERS = parse_spec(
    {
        "name": "titanic",
        "task": "classification",
        "target": "survived",
        "features": [
            {"name": "sex", "type": "categorical", "categories": ["female", "male"], "nullable": True},
            {"name": "age", "type": "numeric", "nullable": True},
            {"name": "fare", "type": "numeric"},
            {"name": "hour", "type": "categorical"},
            {"name": "zip", "type": "categorical"},
            {"name": "continent", "type": "categorical", "categories": ["NA", "EU"]},
        ],
        "estimator": {"kind": "logistic_regression"},
        "metrics": {"primary": "accuracy"},
        "data": {"min_rows": 1},
    }
)
HEADER = "sex,age,fare,hour,zip,continent,survived\n"
NULL_ROWS = [
    ",,7.25,0,01234,NA,0",  # empty cells
    "NA,NA,8,1,01234,EU,1",
    "N/A,N/A,9,2,90210,NA,0",
    "null,null,10,3,02139,EU,1",
    "NaN,NaN,11,23,00501,NA,0",
    "female,31,12.5,7,10001,EU,1",
]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_null_spellings_in_nullable_columns_are_nulls_in_csv_and_gzip(suffix: str) -> None:
    """A nullable categorical column with empty cells passes the contract (it used to fail its categories)."""
    import gzip

    text = (HEADER + "\n".join(NULL_ROWS) + "\n").encode()
    data = gzip.compress(text) if suffix.endswith(".gz") else text
    clean, report = check_contract(read_table(data, f"passengers{suffix}", PASSENGERS), PASSENGERS)
    assert report.failures == []
    assert clean.column("sex").to_pylist() == [None] * 5 + ["female"]
    assert clean.column("age").to_pylist() == [None] * 5 + [31.0]


def test_null_spellings_in_a_non_nullable_column_are_missing_values() -> None:
    rows = ["female,30,NA,0,01234,EU,1", "male,31,,1,01234,EU,0", "male,32,null,2,01234,EU,0", "male,33,9,2,01234,EU,0"]
    table = read_table((HEADER + "\n".join(rows)).encode(), "p.csv", PASSENGERS)
    assert [(f.check, f.column, f.failed_rows) for f in failures(table, PASSENGERS, "not_null")] == [
        ("not_null", "fare", 3)
    ]


def test_csv_columns_take_the_spec_types_not_the_readers_guess() -> None:
    """Hours and zip codes stay text; integers early on do not make a numeric column integer."""
    rows = [f"male,{i},{i},{i % 24},0{i:04d},EU,{i % 2}" for i in range(20_000)] + ["male,1.5,2.75,5,00042,EU,1"]
    table = read_table((HEADER + "\n".join(rows)).encode(), "p.csv", PASSENGERS)
    clean, report = check_contract(table, PASSENGERS)
    assert report.failures == []
    assert clean.schema.field("fare").type == pa.float64()
    assert clean.column("fare").to_pylist()[-1] == 2.75
    assert table.schema.field("hour").type == pa.string()
    assert clean.column("zip").to_pylist()[:2] == ["00000", "00001"]
    assert clean.column("survived").type == pa.string()


def test_a_category_spelled_like_a_null_stays_a_value() -> None:
    table = read_table((HEADER + "\n".join(NULL_ROWS)).encode(), "p.csv", PASSENGERS)
    assert table.column("continent").to_pylist() == ["NA", "EU", "NA", "EU", "NA", "EU"]


def test_text_in_a_numeric_csv_column_is_reported_with_examples() -> None:
    rows = ["male,thirty,7,0,01234,EU,1", "male,31,7,0,01234,EU,0"]
    table = read_table((HEADER + "\n".join(rows)).encode(), "p.csv", PASSENGERS)
    (dtype,) = failures(table, PASSENGERS, "dtype")
    assert (dtype.column, dtype.failed_rows, dtype.examples) == ("age", 1, ["thirty"])


# -- every finding exactly, at its boundaries --------------------------------------------------------


def test_a_unique_column_that_is_missing_is_named_and_the_others_still_checked(
    table: pa.Table, churn_spec: ModelSpec
) -> None:
    ids = list(range(table.num_rows))
    ids[1] = 0
    spec = table_spec(churn_spec, unique=["order_id", "customer_id"])
    _, report = check_contract(table.append_column("customer_id", pa.array(ids)), spec)
    assert [(f.check, f.column, f.failed_rows, f.message) for f in report.failures] == [
        ("column_present", "order_id", ROWS, "column is missing"),
        ("unique", "customer_id", 1, "1 rows repeat a value that must be unique"),
    ]


def test_uniqueness_shows_at_most_three_repeated_values(table: pa.Table, churn_spec: ModelSpec) -> None:
    ids = list(range(table.num_rows))
    ids[10] = ids[11] = 0  # 0 three times
    ids[12], ids[13], ids[14] = 1, 2, 3  # 1, 2 and 3 twice each: four values repeat
    spec = table_spec(churn_spec, unique=["customer_id"])
    [failure] = failures(table.append_column("customer_id", pa.array(ids)), spec, "unique")
    assert (failure.failed_rows, len(failure.examples)) == (5, 3)


@pytest.mark.parametrize(("rows", "failed"), [(499, True), (500, False)])
def test_the_minimum_row_count_is_met_at_its_value(churn_spec: ModelSpec, rows: int, failed: bool) -> None:
    found = failures(churn_table(rows, seed=1), churn_spec, "row_count")
    assert [(f.failed_rows, f.column) for f in found] == ([(0, None)] if failed else [])


@pytest.mark.parametrize(("hours", "stale"), [(24.0, False), (24 + 1 / 3600, True), (24.01, True)])
def test_data_exactly_as_old_as_allowed_is_fresh(
    table: pa.Table, churn_spec: ModelSpec, hours: float, stale: bool
) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    written = (now - timedelta(hours=hours)).replace(tzinfo=None)
    spec = table_spec(churn_spec, timestamp_column="updated_at", max_age_hours=24)
    dated = table.append_column("updated_at", pa.array([written] * table.num_rows))
    found = [f for f in check_contract(dated, spec, now=now)[1].failures if f.check == "freshness"]
    expected = [("updated_at", 0, f"newest row is {hours:.1f} h old, the contract allows 24.0 h")] if stale else []
    assert [(f.column, f.failed_rows, f.message) for f in found] == expected


def test_freshness_needs_both_a_timestamp_column_and_a_maximum_age(table: pa.Table, churn_spec: ModelSpec) -> None:
    assert failures(table, table_spec(churn_spec, max_age_hours=24), "freshness") == []
    assert failures(table, table_spec(churn_spec, timestamp_column="updated_at"), "freshness") == []


def test_timestamps_that_cannot_be_read_are_no_readable_timestamp(table: pa.Table, churn_spec: ModelSpec) -> None:
    spec = table_spec(churn_spec, timestamp_column="updated_at", max_age_hours=24)
    unreadable = table.append_column("updated_at", pa.array(["yesterday"] * table.num_rows))
    [failure] = failures(unreadable, spec, "freshness")
    assert failure.message == "no readable timestamp"
    [missing] = failures(table, spec, "freshness")
    assert (missing.column, missing.message) == ("updated_at", "column is missing")


def test_fractional_values_of_an_integer_feature_are_named(table: pa.Table, churn_spec: ModelSpec) -> None:
    [failure] = failures(with_values(table, "age", {0: 40.5}), churn_spec, "integer")
    assert (failure.failed_rows, failure.message, failure.examples) == (1, "1 values are not whole numbers", [40.5])


def test_a_categorical_feature_has_no_range_checks(churn_spec: ModelSpec, table: pa.Table) -> None:
    assert [f for f in check_contract(table, churn_spec)[1].failures if f.column == "plan"] == []


def test_a_missing_value_is_no_range_failure(table: pa.Table, churn_spec: ModelSpec) -> None:
    spec = spec_with(churn_spec, age={"nullable": True})
    assert check_contract(with_values(table, "age", {0: None}), spec)[1].failures == []


def test_a_regression_target_is_cast_to_numbers(churn_spec: ModelSpec) -> None:
    spec = parse_spec({
        "name": "prices", "task": "regression", "target": "price", "features": [{"name": "rooms", "type": "integer"}],
        "estimator": {"kind": "ridge"}, "metrics": {"primary": "rmse"},
    })  # fmt: skip
    clean, _ = check_contract(pa.table({"rooms": [1, 2], "price": ["10.5", "20"]}), spec, table_checks=False)
    assert clean.column("price").type == pa.float64() and clean.column("price").to_pylist() == [10.5, 20.0]


def test_a_missing_column_does_not_stop_the_checks_of_the_next(table: pa.Table, churn_spec: ModelSpec) -> None:
    broken = with_values(table.drop_columns(["age"]), "plan", {0: "gold"})
    _, report = check_contract(broken, churn_spec)
    assert [(f.check, f.column) for f in report.failures] == [("column_present", "age"), ("categories", "plan")]


def test_enforce_contract_names_each_blocking_failure_and_its_table_checks(churn_spec: ModelSpec) -> None:
    small = with_values(churn_table(10, seed=2), "plan", {0: "gold"})
    with pytest.raises(DataValidationError) as caught:
        enforce_contract(small, churn_spec)
    assert caught.value.message == (
        "dataset for 'churn' breaks its contract: categories on plan: 1 values outside "
        "['basic', 'standard', 'premium']; row_count on table: 10 rows, the contract needs at least 500"
    )


def test_the_summary_lists_each_failure(table: pa.Table, churn_spec: ModelSpec) -> None:
    _, report = check_contract(with_values(table, "plan", {0: "gold"}), churn_spec)
    assert report.summary() == "categories(plan): 1 values outside ['basic', 'standard', 'premium']"
    assert check_contract(table, churn_spec)[1].summary() == "all checks passed"
    # a table check has no column to name
    _, small = check_contract(table.slice(0, 10), churn_spec)
    assert small.summary() == "row_count: 10 rows, the contract needs at least 500"


def test_an_empty_dataset_fails_its_row_count_and_nothing_else(table: pa.Table, churn_spec: ModelSpec) -> None:
    spec = table_spec(churn_spec, unique=["tenure_months"])
    _, report = check_contract(table.slice(0, 0), spec)
    assert [(f.check, f.failed_rows) for f in report.failures] == [("row_count", 0)]


def test_freshness_without_a_given_time_is_judged_now_in_utc(table: pa.Table, churn_spec: ModelSpec) -> None:
    from datetime import UTC, datetime, timedelta

    spec = table_spec(churn_spec, timestamp_column="updated_at", max_age_hours=24)
    written = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)
    dated = table.append_column("updated_at", pa.array([written] * table.num_rows))
    assert [f for f in check_contract(dated, spec)[1].failures if f.check == "freshness"] == []


def test_a_regressors_target_that_is_not_a_number_is_a_finding_with_examples() -> None:
    # GIVEN a regression spec, and a CSV whose target has text where numbers belong
    spec = parse_spec(
        {
            "name": "rentals",
            "task": "regression",
            "target": "count",
            "features": [{"name": "hour", "type": "categorical"}],
            "estimator": {"kind": "lightgbm_regressor"},
            "metrics": {"primary": "rmse"},
            "data": {"min_rows": 1},
        }
    )
    table = read_table(b"hour,count\n0,12\n1,lots\n2,\n3,many\n", "data.csv", spec)
    _, report = check_contract(table, spec)
    # THEN it is counted and shown like a feature's unreadable values (not a parse error), the empty one apart
    [unreadable] = [f for f in report.failures if f.check == "dtype"]
    assert (unreadable.column, unreadable.failed_rows, unreadable.severity) == ("count", 2, Severity.BLOCKING)
    assert unreadable.examples == ["lots", "many"]
    assert unreadable.message == "2 values cannot be read as numbers (a regressor's target)"
    assert [(f.check, f.failed_rows) for f in report.failures if f.check == "not_null"] == [("not_null", 1)]


def test_a_folders_failure_names_at_most_five_of_its_files(table: pa.Table, churn_spec: ModelSpec) -> None:
    files = [(f"f{i}.csv", with_values(table.slice(i * 80, 80), "age", {0: 900})) for i in range(7)]
    files.append(("clean.csv", table.slice(560, 40)))
    _, report = check_contract(pa.concat_tables([rows for _, rows in files]), churn_spec)
    [ages] = [f for f in in_files(report, checked_files(files, churn_spec)).failures if f.column == "age"]
    assert ages.message.endswith("(in f0.csv: 1, f1.csv: 1, f2.csv: 1, f3.csv: 1, f4.csv: 1 and 2 more files)")
    assert ages.failed_rows == 7
