"""The data contract as mergeable counts: what each rule found in some rows, and a profile sketch of them.

A dataset's parts (files, or record batches of a file) are counted apart, their counts merged in
the dataset's row order, and the report made from the merge: the same report a single pass over
the whole table makes, since every count is a sum, every example list the first values found,
every newest timestamp a maximum and every uniqueness check a merge of value counts. (Files whose
columns have different types are the exception: one pass cannot read them as one table at all.)
The sketch's sums are merged in another order than one pass adds them: equal up to rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from mlcore.data.datasets import as_timestamps
from mlcore.spec import Feature, FeatureType, ModelSpec, Severity

EXAMPLES = 3
MAX_SKETCH_CATEGORIES = 1000  # distinct values a categorical sketch counts one by one; the rest are `other`
Mask = Callable[[pa.ChunkedArray], pa.ChunkedArray]


class CheckResult(BaseModel):
    check: str
    column: str | None
    severity: Severity
    failed_rows: int
    message: str
    examples: list[Any] = []
    rows: list[int] = []  # the first failing rows, counted from 0 (a single file's; none for a folder)


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
        return (
            "; ".join(
                f"{f.check}({f.column}): {f.message}" if f.column else f"{f.check}: {f.message}" for f in self.failures
            )
            or "all checks passed"
        )  # a table check (row_count, freshness) has no column


class Tally(BaseModel):
    """What one rule of one column found: how many rows, and the first values."""

    check: str
    column: str
    what: str
    count: int
    examples: list[Any] = Field(default_factory=list)
    rows: list[int] = Field(default_factory=list)  # the first failing rows, counted from 0 in the rows counted


class NumericSketch(BaseModel):
    kind: str = "numeric"
    count: int = 0  # values present (not null, not NaN)
    missing: int = 0
    total: float = 0.0
    squares: float = 0.0
    min: float | None = None
    max: float | None = None


class CategorySketch(BaseModel):
    kind: str = "categorical"
    missing: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    other: int = 0  # values beyond the MAX_SKETCH_CATEGORIES counted one by one


class ContractCounts(BaseModel):
    """A part's (or a merged dataset's) counts; `unique` holds the value counts of `data.unique` columns."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    rows: int = 0
    columns: list[str] = Field(default_factory=list)  # every column name seen, first seen first
    absent: dict[str, int] = Field(default_factory=dict)  # a needed column: the rows of the parts without it
    tallies: list[Tally] = Field(default_factory=list)
    newest: datetime | None = None  # the freshness column's newest readable time
    unreadable_time: str | None = None  # why the freshness column could not be read as times
    sketches: dict[str, NumericSketch | CategorySketch] = Field(default_factory=dict)
    unique: dict[str, pa.Table] = Field(default_factory=dict, exclude=True)  # "values", "counts"
    # A folder's failing column checks by file: "check(column)" -> {file: its failing rows}; "column_present(c)" ->
    # {file: rows} for a file without column c (what its rows fail at the dataset's level)
    files: dict[str, dict[str, int]] = Field(default_factory=dict)

    def tally(self, check: str, column: str, what: str) -> Tally | None:
        return next((t for t in self.tallies if (t.check, t.column, t.what) == (check, column, what)), None)


def arrow_type(feature: Feature) -> pa.DataType:
    return pa.string() if feature.type is FeatureType.CATEGORICAL else pa.float64()


def failing_rows(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The rows where a rule's mask holds (a null: it does not), counted from 0."""
    return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def _first_rows(mask: pa.ChunkedArray | pa.Array) -> list[int]:
    return failing_rows(mask)[:EXAMPLES].tolist()


def _found(values: pa.ChunkedArray | pa.Array, mask: pa.ChunkedArray | pa.Array) -> dict[str, list[Any]]:
    """A rule's first failing values and their rows (a Tally's `examples` and `rows`)."""
    return {"examples": pc.filter(values, mask).slice(0, EXAMPLES).to_pylist(), "rows": _first_rows(mask)}


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


def rules(feature: Feature) -> list[tuple[str, str, Mask]]:
    """(check, what the failing rows are, their mask) for each value rule of a feature, in report order."""
    found: list[tuple[str, str, Mask]] = []
    if feature.is_numeric:  # the API refuses them, and scikit-learn cannot fit them
        found.append(("finite", "values are infinite", pc.is_inf))
    if feature.type is FeatureType.INTEGER:
        found.append(("integer", "values are not whole numbers", lambda cast: pc.not_equal(cast, pc.floor(cast))))
    # an infinite value is the `finite` rule's: counted once, not again as beyond a bound
    if feature.is_numeric and feature.min is not None:
        low = feature.min
        found.append(("range", f"values below min {low}", lambda cast: pc.and_(pc.less(cast, low), pc.is_finite(cast))))
    if feature.is_numeric and feature.max is not None:
        high = feature.max
        found.append(
            ("range", f"values above max {high}", lambda cast: pc.and_(pc.greater(cast, high), pc.is_finite(cast)))
        )
    if feature.categories is not None and not feature.allow_unseen:
        allowed = pa.array(feature.categories)
        # A null is not a category outside the list (nullability is its own check).
        found.append(
            (
                "categories",
                f"values outside {feature.categories}",
                lambda cast: pc.and_(pc.is_valid(cast), pc.invert(pc.is_in(cast, value_set=allowed))),
            )
        )
    return found


DTYPE, NOT_NULL, MISSING_VALUES, NO_TARGET = "dtype", "not_null", "missing values", "rows have no target"
CLASSES = "classes"
NUMERIC_TARGET = "numeric target"


def outside_classes(spec: ModelSpec) -> str:
    """What the target's rows with a label the spec's `classes` do not list are."""
    return f"rows have a target outside {spec.classes}"


def _sketch(feature: Feature, cast: pa.ChunkedArray) -> NumericSketch | CategorySketch:
    if feature.is_numeric:
        present = pc.drop_null(pc.if_else(pc.is_nan(cast), None, cast)) if len(cast) else cast
        count = len(present)
        return NumericSketch(
            count=count,
            missing=len(cast) - count,
            total=pc.sum(present).as_py() or 0.0,
            squares=pc.sum(pc.multiply(present, present)).as_py() or 0.0,
            min=pc.min(present).as_py(),
            max=pc.max(present).as_py(),
        )
    counted = pc.value_counts(pc.drop_null(cast))
    values, numbers = counted.field("values").to_pylist(), counted.field("counts").to_pylist()
    return CategorySketch(missing=cast.null_count, counts=dict(zip(values, numbers, strict=True)))


def _cast(column: pa.ChunkedArray, kind: pa.DataType, name: str, what: str) -> pa.ChunkedArray | Tally:
    """A column cast to its contract type, or the tally of the values that cannot be read as `what`."""
    try:
        return pc.cast(column, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        mask = _unreadable(column)
        count = pc.sum(mask).as_py() or 0
        return Tally(check=DTYPE, column=name, what=what, count=count, **_found(column, mask))


def _count_column(feature: Feature, column: pa.ChunkedArray) -> tuple[pa.ChunkedArray | None, list[Tally]]:
    """Cast a column to its contract type and count each rule's failing rows: the cast (None when the
    column cannot be read as its type) and the tallies."""
    name = feature.name
    cast = _cast(column, arrow_type(feature), name, str(feature.type))
    if isinstance(cast, Tally):
        return None, [cast]
    tallies = []
    if cast.null_count and not feature.nullable:
        missing = _first_rows(pc.is_null(cast))  # a missing value has no example to show
        tallies.append(Tally(check=NOT_NULL, column=name, what=MISSING_VALUES, count=cast.null_count, rows=missing))
    for check, what, rule in rules(feature):
        mask = pc.fill_null(rule(cast), False)
        count = pc.sum(mask).as_py() or 0
        if count:
            tallies.append(Tally(check=check, column=name, what=what, count=count, **_found(cast, mask)))
    return cast, tallies


def _newest(table: pa.Table, column: str) -> tuple[datetime | None, str | None]:
    try:
        return pc.max(as_timestamps(table.column(column))).as_py(), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return None, f"cannot be read as timestamps: {exc}"


def _needed(spec: ModelSpec, *, require_target: bool, table_checks: bool) -> list[str]:
    """The columns the contract reads: features, target, and the table checks' unique and time columns."""
    needed = [*spec.feature_names, *([spec.target] if require_target else [])]
    if table_checks:
        data = spec.data
        fresh = [data.timestamp_column] if data.timestamp_column and data.max_age_hours is not None else []
        needed += [name for name in [*data.unique, *fresh] if name not in needed]
    return needed


def _count_table_checks(table: pa.Table, spec: ModelSpec, counts: ContractCounts) -> None:
    """The uniqueness columns' value counts and the freshness column's newest time (where the part has them)."""
    for name in spec.data.unique:
        if name in table.column_names:
            counted = pc.value_counts(pc.drop_null(table.column(name)))
            counts.unique[name] = pa.table({"values": counted.field("values"), "counts": counted.field("counts")})
    column = spec.data.timestamp_column
    if column is not None and spec.data.max_age_hours is not None and column in table.column_names:
        counts.newest, counts.unreadable_time = _newest(table, column)


def count_contract(
    table: pa.Table, spec: ModelSpec, *, require_target: bool = True, table_checks: bool = True
) -> tuple[ContractCounts, dict[str, pa.ChunkedArray]]:
    """Count a part against the spec's contract: its counts, and its columns cast to their contract types.

    A column the part lacks counts as missing values there (as in a dataset whose other files have it).
    """
    rows = table.num_rows
    needed = _needed(spec, require_target=require_target, table_checks=table_checks)
    counts = ContractCounts(
        rows=rows,
        columns=list(table.column_names),
        absent={name: rows for name in needed if name not in table.column_names},
    )
    casts: dict[str, pa.ChunkedArray] = {}
    for feature in spec.features:
        if feature.name in table.column_names:
            column = table.column(feature.name)
        else:
            column = pa.chunked_array([pa.nulls(rows, arrow_type(feature))])
        cast, tallies = _count_column(feature, column)
        counts.tallies.extend(tallies)
        if cast is not None:
            casts[feature.name] = cast
            counts.sketches[feature.name] = _sketch(feature, cast)
    _keys_without_values(table, spec, counts)
    if require_target and spec.target in table.column_names:
        cast = _count_target(table.column(spec.target), spec, counts)
        if cast is not None:
            casts[spec.target] = cast
    if table_checks:
        _count_table_checks(table, spec, counts)
    return counts, casts


def _keys_without_values(table: pa.Table, spec: ModelSpec, counts: ContractCounts) -> None:
    """A feature a view had no value for (in a row's TTL) shows, as its examples, the keys of the first such rows."""
    for binding in spec.views.values():
        if not all(entity in table.column_names for entity in binding.entities):
            continue
        for name in binding.features:
            tally = counts.tally(NOT_NULL, name, MISSING_VALUES)
            if tally is None or name not in table.column_names:
                continue
            rows = table.filter(pc.is_null(table.column(name))).select(binding.entities).slice(0, EXAMPLES)
            tally.examples = [
                ", ".join(f"{entity} {value!r}" for entity, value in row.items()) for row in rows.to_pylist()
            ]


def _count_target(target: pa.ChunkedArray, spec: ModelSpec, counts: ContractCounts) -> pa.ChunkedArray | None:
    """Count the target's rules (no label; a regressor's text that is no number; a label outside the `classes`)
    into `counts`: its cast (labels as text, numbers as float64), None when it cannot be read as numbers."""
    if target.null_count:
        unlabelled = _first_rows(pc.is_null(target))
        counts.tallies.append(
            Tally(check=NOT_NULL, column=spec.target, what=NO_TARGET, count=target.null_count, rows=unlabelled)
        )
    kind = pa.string() if spec.task == "classification" else pa.float64()
    cast = _cast(target, kind, spec.target, NUMERIC_TARGET)  # a regressor's text that is no number
    if isinstance(cast, Tally):
        counts.tallies.append(cast)
        return None
    if spec.classes is not None:  # a missing label is not one outside the classes (not_null counts it)
        outside = pc.and_(pc.is_valid(cast), pc.invert(pc.is_in(cast, value_set=pa.array(spec.classes))))
        count = pc.sum(outside).as_py() or 0
        if count:
            counts.tallies.append(Tally(check=CLASSES, column=spec.target, what=outside_classes(spec), count=count,
                                        **_found(cast, outside)))  # fmt: skip
    return cast


def _merge_sketches(
    a: NumericSketch | CategorySketch, b: NumericSketch | CategorySketch
) -> NumericSketch | CategorySketch:
    if isinstance(a, NumericSketch) and isinstance(b, NumericSketch):
        present = [v for v in (a.min, b.min) if v is not None]
        top = [v for v in (a.max, b.max) if v is not None]
        return NumericSketch(
            count=a.count + b.count,
            missing=a.missing + b.missing,
            total=a.total + b.total,
            squares=a.squares + b.squares,
            min=min(present) if present else None,
            max=max(top) if top else None,
        )
    assert isinstance(a, CategorySketch) and isinstance(b, CategorySketch)
    counts, other = dict(a.counts), a.other + b.other
    for value, count in b.counts.items():
        if value in counts or len(counts) < MAX_SKETCH_CATEGORIES:
            counts[value] = counts.get(value, 0) + count
        else:
            other += count
    return CategorySketch(missing=a.missing + b.missing, counts=counts, other=other)


def _merge_unique(tables: list[pa.Table]) -> pa.Table:
    """Value counts of parts as one: counts summed, values in the order first seen."""
    merged = pa.concat_tables(tables, promote_options="permissive")
    return (
        merged.group_by("values", use_threads=False).aggregate([("counts", "sum")]).rename_columns(["values", "counts"])
    )


def merge_counts(parts: Iterable[ContractCounts]) -> ContractCounts:
    """The counts of parts, in the dataset's row order, as one part's."""
    merged = ContractCounts()
    unique: dict[str, list[pa.Table]] = {}
    for part in parts:
        offset = merged.rows  # a part's rows follow the parts before it
        merged.rows += part.rows
        merged.columns += [name for name in part.columns if name not in merged.columns]
        for name, rows in part.absent.items():
            merged.absent[name] = merged.absent.get(name, 0) + rows
        for tally in part.tallies:
            located = [offset + row for row in tally.rows]
            found = merged.tally(tally.check, tally.column, tally.what)
            if found is None:
                merged.tallies.append(tally.model_copy(deep=True, update={"rows": located}))
            else:
                found.count += tally.count
                found.examples = (found.examples + tally.examples)[:EXAMPLES]
                found.rows = (found.rows + located)[:EXAMPLES]
        if part.newest is not None and (merged.newest is None or part.newest > merged.newest):
            merged.newest = part.newest
        merged.unreadable_time = merged.unreadable_time or part.unreadable_time
        for name, sketch in part.sketches.items():
            merged.sketches[name] = (
                _merge_sketches(merged.sketches[name], sketch) if name in merged.sketches else sketch
            )
        for name, table in part.unique.items():
            unique.setdefault(name, []).append(table)
        for failure, by_file in part.files.items():
            into = merged.files.setdefault(failure, {})
            for file, rows in by_file.items():
                into[file] = into.get(file, 0) + rows
    merged.unique = {name: _merge_unique(tables) for name, tables in unique.items()}
    return merged
