"""Data contract checks on Arrow tables, vectorised with pyarrow.compute."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from mlcore.data.datasets import as_timestamps
from mlcore.errors import DataValidationError
from mlcore.spec import Feature, FeatureType, ModelSpec, Severity

EXAMPLES = 3


class CheckResult(BaseModel):
    check: str
    column: str | None
    severity: Severity
    failed_rows: int
    message: str
    examples: list[Any] = []


class ContractReport(BaseModel):
    rows: int
    columns: int
    failures: list[CheckResult]

    @property
    def blocking(self) -> list[CheckResult]:
        return [f for f in self.failures if f.severity is Severity.BLOCKING]

    @property
    def warnings(self) -> list[CheckResult]:
        return [f for f in self.failures if f.severity is Severity.WARNING]

    def summary(self) -> str:
        return "; ".join(f"{f.check}({f.column}): {f.message}" for f in self.failures) or "all checks passed"


def _arrow_type(feature: Feature) -> pa.DataType:
    if feature.type is FeatureType.CATEGORICAL:
        return pa.string()
    return pa.float64()


def _examples(values: pa.ChunkedArray | pa.Array, mask: pa.ChunkedArray | pa.Array) -> list[Any]:
    return pc.filter(values, mask).slice(0, EXAMPLES).to_pylist()


def _unreadable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Rows whose value is not a number, found by parsing each distinct value once."""
    as_text = pc.cast(column, pa.string())
    bad = []
    for value in pc.unique(as_text).to_pylist():
        try:
            if value is not None:
                float(value)
        except ValueError:
            bad.append(value)
    return pc.is_in(as_text, value_set=pa.array(bad, pa.string()))


def _masks(feature: Feature, cast: pa.ChunkedArray) -> list[tuple[str, str, pa.ChunkedArray]]:
    """(check, what the failing rows are, boolean mask of failing rows) for each rule of a feature."""
    masks: list[tuple[str, str, pa.ChunkedArray]] = []
    if feature.type is FeatureType.INTEGER:
        masks.append(("integer", "values are not whole numbers", pc.not_equal(cast, pc.floor(cast))))
    if feature.is_numeric and feature.min is not None:
        masks.append(("range", f"values below min {feature.min}", pc.less(cast, feature.min)))
    if feature.is_numeric and feature.max is not None:
        masks.append(("range", f"values above max {feature.max}", pc.greater(cast, feature.max)))
    if feature.categories is not None and not feature.allow_unseen:
        # A null is not a category outside the list (nullability is its own check).
        outside = pc.and_(pc.is_valid(cast), pc.invert(pc.is_in(cast, value_set=pa.array(feature.categories))))
        masks.append(("categories", f"values outside {feature.categories}", outside))
    return masks


def _check_column(feature: Feature, column: pa.ChunkedArray) -> tuple[pa.ChunkedArray | None, list[CheckResult]]:
    """Cast a column to its contract type and run its checks; returns the cast column and failures."""

    def failure(check: str, count: int, message: str, examples: list[Any] | None = None) -> CheckResult:
        return CheckResult(
            check=check,
            column=feature.name,
            severity=feature.severity,
            failed_rows=count,
            message=message,
            examples=examples or [],
        )

    try:
        cast = pc.cast(column, _arrow_type(feature))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        mask = _unreadable(column)
        count = pc.sum(mask).as_py() or 0
        return None, [
            failure("dtype", count, f"{count} values cannot be read as {feature.type}", _examples(column, mask))
        ]
    failures = []
    if cast.null_count and not feature.nullable:
        failures.append(
            failure("not_null", cast.null_count, f"{cast.null_count} missing values in a non-nullable column")
        )
    for check, what, raw_mask in _masks(feature, cast):
        mask = pc.fill_null(raw_mask, False)
        count = pc.sum(mask).as_py() or 0
        if count:
            failures.append(failure(check, count, f"{count} {what}", _examples(cast, mask)))
    return cast, failures


def _table_checks(table: pa.Table, spec: ModelSpec, now: datetime) -> list[CheckResult]:
    """Row count, uniqueness and freshness, at the severity the spec gives table-level checks."""
    data, rows, failures = spec.data, table.num_rows, []

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
        if name not in table.column_names:
            fail("column_present", name, rows, "column is missing")
            continue
        counts = pc.value_counts(pc.drop_null(table.column(name)))
        repeated = pc.filter(counts, pc.greater(counts.field("counts"), 1))
        duplicates = (pc.sum(repeated.field("counts")).as_py() or 0) - len(repeated)
        if duplicates:
            examples = repeated.field("values").slice(0, EXAMPLES).to_pylist()
            fail("unique", name, duplicates, f"{duplicates} rows repeat a value that must be unique", examples)
    if data.timestamp_column is not None and data.max_age_hours is not None:
        fail_freshness = _freshness(table, data.timestamp_column, data.max_age_hours, now)
        if fail_freshness:
            fail("freshness", data.timestamp_column, 0, fail_freshness)
    return failures


def _freshness(table: pa.Table, column: str, max_age_hours: float, now: datetime) -> str | None:
    """Why the newest timestamp is too old (or unreadable), or None when the data is fresh."""
    if column not in table.column_names:
        return "column is missing"
    try:
        newest = pc.max(as_timestamps(table.column(column))).as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return f"cannot be read as timestamps: {exc}"
    if newest is None:
        return "no readable timestamp"
    age = (now - newest).total_seconds() / 3600
    return f"newest row is {age:.1f} h old, the contract allows {max_age_hours} h" if age > max_age_hours else None


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
    failures: list[CheckResult] = []
    columns: dict[str, pa.ChunkedArray] = {}
    wanted = [*spec.feature_names, *([spec.target] if require_target else [])]
    missing = [name for name in wanted if name not in table.column_names]
    for name in missing:
        failures.append(
            CheckResult(
                check="column_present",
                column=name,
                severity=Severity.BLOCKING,
                failed_rows=table.num_rows,
                message="column is missing",
            )
        )
    for feature in spec.features:
        if feature.name in missing:
            continue
        cast, column_failures = _check_column(feature, table.column(feature.name))
        failures.extend(column_failures)
        if cast is not None:
            columns[feature.name] = cast
    if require_target and spec.target not in missing:
        target = table.column(spec.target)
        if target.null_count:
            failures.append(
                CheckResult(
                    check="not_null",
                    column=spec.target,
                    severity=Severity.BLOCKING,
                    failed_rows=target.null_count,
                    message=f"{target.null_count} rows have no target",
                )
            )
        columns[spec.target] = pc.cast(target, pa.string() if spec.task == "classification" else pa.float64())
    if table_checks:
        failures.extend(_table_checks(table, spec, now or datetime.now(UTC)))
    report = ContractReport(rows=table.num_rows, columns=table.num_columns, failures=failures)
    return pa.table(columns), report


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
