"""Data contract checks on Arrow tables, vectorised with pyarrow.compute: counted (`counts`), then reported."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlcore.data.counts import (
    CLASSES,
    DTYPE,
    EXAMPLES,
    MISSING_VALUES,
    NO_TARGET,
    NOT_NULL,
    NUMERIC_TARGET,
    CheckResult,
    ContractCounts,
    ContractReport,
    Tally,
    count_contract,
    merge_counts,
    outside_classes,
    rules,
)
from mlcore.errors import DataValidationError
from mlcore.spec import Feature, ModelSpec, Severity

__all__ = [
    "CheckResult",
    "ContractReport",
    "at_rows",
    "check_contract",
    "checked_files",
    "contract_report",
    "enforce_contract",
    "file_failures",
    "in_files",
    "named_like",
]
FILES_NAMED = 5  # a failure names at most this many of a folder's files


def named_like(name: str, columns: Collection[str]) -> str:
    """For a column the data lacks, the hint of one it has under a name like it (`Age` for `age`, `age ` with a
    space, `age_yrs`), or "": a name must match the spec's exactly. Names that differ in their digits alone
    (`feature_12` for `feature_10`, `income_2024`) are other columns, not typos."""
    key = name.strip().casefold()
    digitless = re.sub(r"\d", "", key)
    same = [column for column in columns if column != name and column.strip().casefold() == key]
    others = {
        column.strip().casefold(): column
        for column in columns
        if re.sub(r"\d", "", column.strip().casefold()) != digitless
    }
    close = difflib.get_close_matches(key, list(others), n=1, cutoff=0.8)
    found = same[0] if same else others[close[0]] if close else None
    return f" (the data has {found!r}: a column's name must be the spec's exactly)" if found is not None else ""


def _without_values(spec: ModelSpec, feature: Feature, count: int) -> str:
    """What the rows missing a feature are: a view's, rows it had no value for in their TTL."""
    view, binding = next(((v, b) for v, b in spec.views.items() if feature.name in b.features), (None, None))
    if binding is None:
        return f"{count} missing values in a non-nullable column"
    return (
        f"{count} rows found no value in feature view '{view}' within its ttl of {binding.ttl_hours:g} h before their "
        f"time (by {', '.join(binding.entities)}; their keys are the examples): ingest the view's values, or drop "
        "the rows"
    )


def _column_failures(feature: Feature, counts: ContractCounts, spec: ModelSpec) -> list[CheckResult]:
    """A feature's failures in report order: only `dtype` when its column cannot be read as its type."""

    def failure(check: str, tally: Tally, message: str) -> CheckResult:
        return CheckResult(check=check, column=feature.name, severity=feature.severity, failed_rows=tally.count,
                           message=message, examples=tally.examples, rows=tally.rows)  # fmt: skip

    unreadable = counts.tally(DTYPE, feature.name, str(feature.type))
    if unreadable is not None:
        return [failure(DTYPE, unreadable, f"{unreadable.count} values cannot be read as {feature.type}")]
    found = []
    missing = counts.tally(NOT_NULL, feature.name, MISSING_VALUES)
    if missing is not None:
        found.append(failure(NOT_NULL, missing, _without_values(spec, feature, missing.count)))
    for check, what, _ in rules(feature):
        tally = counts.tally(check, feature.name, what)
        if tally is not None:
            hint = _cased_like(feature.categories or [], tally.examples)
            found.append(failure(check, tally, f"{tally.count} {what}{hint}"))
    return found


def _cased_like(listed: list[str], examples: list[Any]) -> str:
    """For a value outside a list (a feature's categories, the classes) that is one of it in other letter case
    (`Salaried`), the hint of that one."""
    by_case = {category.casefold(): category for category in listed}
    for value in examples:
        if isinstance(value, str) and value.casefold() in by_case:
            return f" ({value!r}: did you mean {by_case[value.casefold()]!r}? labels match case and all)"
    return ""


def _table_failures(counts: ContractCounts, spec: ModelSpec, now: datetime) -> list[CheckResult]:
    """Row count, uniqueness and freshness, at the severity the spec gives table-level checks."""
    data, rows, failures = spec.data, counts.rows, []

    def fail(check: str, column: str | None, count: int, message: str, examples: list[Any] | None = None) -> None:
        failures.append(
            CheckResult(check=check, column=column, severity=data.severity, failed_rows=count, message=message,
                        examples=examples or [])
        )  # fmt: skip

    if rows < data.min_rows:
        fail("row_count", None, 0, f"{rows} rows, the contract needs at least {data.min_rows}")
    if data.max_rows is not None and rows > data.max_rows:
        fail("row_count", None, rows - data.max_rows, f"{rows} rows, the contract allows at most {data.max_rows}")
    for name in data.unique:
        if counts.absent.get(name) == rows:
            fail("column_present", name, rows, "column is missing" + named_like(name, counts.columns))
            continue
        values = counts.unique.get(name)
        if values is None:  # present, but only in empty parts
            continue
        repeated = values.filter(pc.greater(values.column("counts"), 1))
        duplicates = (pc.sum(repeated.column("counts")).as_py() or 0) - repeated.num_rows
        if duplicates:
            examples = repeated.column("values").slice(0, EXAMPLES).to_pylist()
            fail("unique", name, duplicates, f"{duplicates} rows repeat a value that must be unique", examples)
    if data.timestamp_column is not None and data.max_age_hours is not None:
        stale = _freshness(counts, data.timestamp_column, data.max_age_hours, now)
        if stale:
            fail("freshness", data.timestamp_column, 0, stale)
    return failures


def _freshness(counts: ContractCounts, column: str, max_age_hours: float, now: datetime) -> str | None:
    """Why the newest timestamp is too old (or unreadable), or None when the data is fresh."""
    if counts.absent.get(column) == counts.rows:
        return "column is missing"
    if counts.unreadable_time is not None:
        return counts.unreadable_time
    if counts.newest is None:
        return "no readable timestamp"
    age = (now - counts.newest).total_seconds() / 3600
    return f"newest row is {age:.1f} h old, the contract allows {max_age_hours} h" if age > max_age_hours else None


def contract_report(
    counts: ContractCounts,
    spec: ModelSpec,
    *,
    require_target: bool = True,
    table_checks: bool = True,
    now: datetime | None = None,
) -> ContractReport:
    """The report of a dataset's counts (one part's, or its parts' merged): exact counts and example values
    per failed check, in the contract's order."""
    rows = counts.rows
    wanted = [*spec.feature_names, *([spec.target] if require_target else [])]
    missing = [name for name in wanted if counts.absent.get(name) == rows]
    failures = [
        CheckResult(check="column_present", column=name, severity=Severity.BLOCKING, failed_rows=rows,
                    message="column is missing" + named_like(name, counts.columns))
        for name in missing
    ]  # fmt: skip
    for feature in spec.features:
        if feature.name not in missing:
            failures.extend(_column_failures(feature, counts, spec))
    no_target = counts.tally(NOT_NULL, spec.target, NO_TARGET)
    if require_target and spec.target not in missing and no_target is not None:
        failures.append(
            CheckResult(check=NOT_NULL, column=spec.target, severity=Severity.BLOCKING, failed_rows=no_target.count,
                        message=f"{no_target.count} rows have no target", rows=no_target.rows)
        )  # fmt: skip
    unreadable = counts.tally(DTYPE, spec.target, NUMERIC_TARGET)
    outside = counts.tally(CLASSES, spec.target, outside_classes(spec)) if spec.classes is not None else None
    for check, found, message in (
        (DTYPE, unreadable, "values cannot be read as numbers (a regressor's target)"),
        (CLASSES, outside, outside_classes(spec)),
    ):
        if require_target and found is not None:
            hint = _cased_like(spec.classes or [], found.examples) if check == CLASSES else ""
            failures.append(
                CheckResult(check=check, column=spec.target, severity=Severity.BLOCKING, failed_rows=found.count,
                            message=f"{found.count} {message}{hint}", examples=found.examples, rows=found.rows)
            )  # fmt: skip
    if table_checks:
        failures.extend(_table_failures(counts, spec, now or datetime.now(UTC)))
    return ContractReport(rows=rows, columns=len(counts.columns), failures=failures)


def check_contract(
    table: pa.Table,
    spec: ModelSpec,
    *,
    require_target: bool = True,
    table_checks: bool = True,
    now: datetime | None = None,
) -> tuple[pa.Table, ContractReport]:
    """Check a table against the spec's data contract.

    Parameters
    ----------
    table
        The dataset as read.
    spec
        The model spec; its features (and target) define the contract.
    require_target
        Whether the target column must be present (training data) or not (served traffic).
    table_checks
        Whether to check row count, uniqueness and freshness (datasets) or only columns (traffic).

    Returns
    -------
    tuple
        The table restricted to the contract's columns, cast to their types, and the report with
        exact counts and example values per failed check.
    """
    counts, casts = count_contract(table, spec, require_target=require_target, table_checks=table_checks)
    report = contract_report(counts, spec, require_target=require_target, table_checks=table_checks, now=now)
    present = {name: column for name, column in casts.items() if name in table.column_names}
    return pa.table(present), report


def file_failures(counts: ContractCounts, spec: ModelSpec, relative: str) -> dict[str, dict[str, int]]:
    """The failing column checks of one file's (or one of its batches') counts, as `ContractCounts.files` holds
    them."""
    report = contract_report(counts, spec, table_checks=False)
    return {f"{f.check}({f.column})": {relative: f.failed_rows} for f in report.failures if f.column is not None}


def in_files(report: ContractReport, files: dict[str, dict[str, int]]) -> ContractReport:
    """A folder's report whose failed column checks say which files the failing rows are in (`files`, as
    `ContractCounts.files`): `11 values outside ['female', 'male'] (in 2025-04/b.csv: 8, c.csv: 3)`, or
    `(in b.csv: no column sex)`; at most FILES_NAMED files each."""

    def named(failure: CheckResult) -> CheckResult:
        if failure.column is None or failure.check == "column_present":
            return failure
        counted = files.get(f"{failure.check}({failure.column})", {})
        lacking = files.get(f"column_present({failure.column})", {})
        parts = [f"{file}: {rows}" for file, rows in counted.items()]
        parts += [f"{file}: no column {failure.column}" for file in lacking]
        if not parts:
            return failure
        more = f" and {len(parts) - FILES_NAMED} more files" if len(parts) > FILES_NAMED else ""
        message = f"{failure.message} (in {', '.join(parts[:FILES_NAMED])}{more})"
        return failure.model_copy(update={"message": message, "rows": []})  # rows of all files as one: no file's

    return report.model_copy(update={"failures": [named(failure) for failure in report.failures]})


def at_rows(report: ContractReport) -> ContractReport:
    """A single file's report whose failed column checks say where the first failing row is, and its value:
    `1 values cannot be read as integer (first at row 781234, counted from 0: 'forty')`."""

    def located(failure: CheckResult) -> CheckResult:
        if not failure.rows:
            return failure
        value = f": {failure.examples[0]!r}" if failure.examples else ""
        return failure.model_copy(
            update={"message": f"{failure.message} (first at row {failure.rows[0]}, counted from 0{value})"}
        )

    return report.model_copy(update={"failures": [located(failure) for failure in report.failures]})


def checked_files(tables: list[tuple[str, pa.Table]], spec: ModelSpec) -> dict[str, dict[str, int]]:
    """`ContractCounts.files` of a folder read in one pass: each file's rows (by its path) counted again alone."""
    return merge_counts(
        ContractCounts(files=file_failures(count_contract(table, spec, table_checks=False)[0], spec, relative))
        for relative, table in tables
    ).files


def enforce_contract(table: pa.Table, spec: ModelSpec) -> tuple[pa.Table, ContractReport]:
    """Like `check_contract`, raising on any blocking failure.

    Raises
    ------
    DataValidationError
        Listing every blocking failure with its count.
    """
    clean, report = check_contract(table, spec)
    if report.blocking:
        details = "; ".join(f"{f.check} on {f.column or 'table'}: {f.message}" for f in report.blocking)
        raise DataValidationError(f"dataset for '{spec.name}' breaks its contract: {details}")
    return clean, report
