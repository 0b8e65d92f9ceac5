"""Request rows checked against a model's signature, and turned into its input tensors (numpy only)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Annotated, Any, Final, Literal

import numpy as np

from mlcore.catalog import SignatureField
from mlcore.errors import BadRequestError, PayloadTooLargeError

FLOAT: Final = "float"
STRING: Final = "string"
FLOAT32_MAX = float(np.finfo(np.float32).max)
BULK_ROWS = 32
UNKNOWN_FEATURE = "is not a feature of this model"
MISSING_FEATURE = "is missing"


def _bad(row: int, name: str, message: str) -> BadRequestError:
    return BadRequestError(f"instances[{row}].{name}: {message}", field=f"instances[{row}].{name}")


def _number(value: Any, row: int, field: dict[str, Any]) -> float | None:
    low, high = field["_low"], field["_high"]
    # the common case; NaN fails the test
    if type(value) is float and low <= value <= high and (not field["integer"] or value.is_integer()):
        return value
    if type(value) is int and low <= value <= high:
        return float(value)
    number = _finite(value, row, field)
    if number is not None and not low <= number <= high:
        name = field["name"]
        if abs(number) > FLOAT32_MAX:
            raise _bad(row, name, f"must be within ±{FLOAT32_MAX:.3g} (the model computes in float32)")
        limit = f"below the minimum {_shown(low)}" if number < low else f"above the maximum {_shown(high)}"
        raise _bad(row, name, f"{_shown(number)} is {limit}")
    if number is not None and field["integer"] and not number.is_integer():
        raise _bad(row, field["name"], f"expected a whole number (an integer feature), got {number!r}")
    return number


def _shown(number: float) -> str:
    """A number as the client wrote it (500.0001 stays 500.0001, where `:g` shows 500), without a trailing `.0`."""
    text = repr(number)
    return text.removesuffix(".0")


def fractions(numbers: np.ndarray) -> np.ndarray:
    """Where the numbers are not whole (NaN, a missing value, is not; infinities are not numbers the API takes)."""
    with np.errstate(invalid="ignore"):
        return np.mod(numbers, 1.0) > 0


def _fractional(numbers: np.ndarray) -> bool:
    """Whether any of the numbers is not whole."""
    return bool(fractions(numbers).any())


def _finite(value: Any, row: int, field: dict[str, Any]) -> float | None:
    """A value as a finite number, or None where the feature may be missing; raises naming the row and field."""
    name = field["name"]
    if value is None:
        if field["nullable"]:
            return None
        raise _bad(row, name, "is required and may not be null")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(row, name, f"expected a number, got {type(value).__name__}")
    try:
        number = float(value)  # a huge JSON integer overflows here
    except OverflowError:
        number = math.inf
    if math.isnan(number) and field["nullable"]:
        return None  # JSON's NaN token, like null, is a missing value where the spec allows one
    if not math.isfinite(number):
        raise _bad(row, name, "must be a finite number")
    return number


def bounds(field: SignatureField) -> tuple[float, float]:
    """The numbers a feature accepts: the spec's min and max, else float32's range."""
    low = -FLOAT32_MAX if field.minimum is None else max(field.minimum, -FLOAT32_MAX)
    high = FLOAT32_MAX if field.maximum is None else min(field.maximum, FLOAT32_MAX)
    return low, high


def is_text(value: str) -> bool:
    """Whether a string is encodable text (JSON's escapes can carry lone UTF-16 surrogates)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _category(value: Any, row: int, field: dict[str, Any]) -> str | None:
    allowed = field.get("_allowed")
    if type(value) is str and (value in allowed if allowed is not None else value.isascii()):  # the common case
        return value
    name = field["name"]
    if value is None:
        if field["nullable"]:
            return None
        raise _bad(row, name, "is required and may not be null")
    if not isinstance(value, str):
        raise _bad(row, name, f"expected a string, got {type(value).__name__}")
    categories = field.get("categories")
    if categories is not None and value not in categories:
        raise _bad(row, name, f"{value!r} is not one of the model's categories {categories}")
    if not is_text(value):
        raise _bad(row, name, "is not valid Unicode text")
    return value


def records_from_split(split: Any) -> list[Any]:
    """Rows of MLflow's `dataframe_split` (`{"columns": [...], "data": [[...], ...]}`) as objects.

    Raises
    ------
    BadRequestError
        Naming `dataframe_split.columns` or `dataframe_split.data[i]` when the shape is wrong.
    """
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list) or "data" not in split:
        raise BadRequestError(
            'dataframe_split: expected {"columns": [...], "data": [[...], ...]}', field="dataframe_split"
        )
    columns, data = split["columns"], split["data"]
    if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
        raise BadRequestError("dataframe_split.columns: expected distinct strings", field="dataframe_split.columns")
    if not isinstance(data, list):
        raise BadRequestError("dataframe_split.data: expected a list of rows", field="dataframe_split.data")
    records = []
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            raise BadRequestError(
                f"dataframe_split.data[{row}]: expected a list of {len(columns)} values",
                field=f"dataframe_split.data[{row}]",
            )
        records.append(dict(zip(columns, values, strict=True)))
    return records


def as_split_error(error: BadRequestError, columns: list[str]) -> BadRequestError:
    """A refusal of the rows of a `dataframe_split` body named in its own shape: `instances[i].age` becomes
    `dataframe_split.data[i][j]` (the value's row and column), a feature the columns lack or should not have
    `dataframe_split.columns`, the rows `dataframe_split.data`."""
    field = error.field or ""
    if field == "instances":
        where = "dataframe_split.data"
        return type(error)(where + error.message.removeprefix(field), field=where)
    value = re.fullmatch(r"instances\[(\d+)\]\.(.+)", field, flags=re.DOTALL)
    if value is None:
        return error
    row, name = int(value[1]), value[2]
    reason = error.message.removeprefix(f"{field}: ")
    missing = reason == MISSING_FEATURE or reason.startswith(f"{MISSING_FEATURE}: ")  # an entity key's says whose
    if reason == UNKNOWN_FEATURE or (missing and name not in columns):
        return type(error)(f"dataframe_split.columns: {name!r} {reason}", field="dataframe_split.columns")
    # a value of the row's, or one the row was given from a feature view (not in its columns)
    where = f"dataframe_split.data[{row}]" + (f"[{columns.index(name)}]" if name in columns else "")
    return type(error)(f"{where} ({name}): {reason}", field=where)


@dataclass
class Inputs:
    """A validated batch: the model's input tensors and the cleaned values (for capture).

    A column of values is a list (`None` for missing), or a float64 array for numbers checked in bulk.
    """

    tensors: dict[str, np.ndarray]
    values: dict[str, Any]
    rows: int


def check_batch(instances: Any, max_rows: int) -> None:
    if not isinstance(instances, list):
        raise BadRequestError("instances: expected a list of objects", field="instances")
    if not instances:
        raise BadRequestError("instances: the batch is empty", field="instances")
    if len(instances) > max_rows:
        raise PayloadTooLargeError(
            f"instances: {len(instances)} rows exceed the limit of {max_rows}", field="instances"
        )


def _clean_column(column: list[Any], field: dict[str, Any]) -> list[Any] | None:
    """The column's clean values when all are valid as they are (checked in bulk: the common case), else None."""
    kinds = set(map(type, column))
    if field["type"] == FLOAT:
        if not kinds <= {float, int}:
            return None
        try:
            numbers = np.array(column, dtype=np.float64)
        except OverflowError:
            return None
        # NaN fails both comparisons, so only finite values in the feature's bounds pass.
        valid = bool(((numbers >= field["_low"]) & (numbers <= field["_high"])).all())
        return numbers.tolist() if valid and not (field["integer"] and _fractional(numbers)) else None
    allowed = field.get("_allowed")
    if kinds == {str} and (set(column) <= allowed if allowed is not None else all(map(str.isascii, column))):
        return column
    return None


class InputValidator:
    """Validates request rows against a signature; built once per loaded model."""

    def __init__(self, signature: list[SignatureField]) -> None:
        self.signature = signature
        self.names = frozenset(field.name for field in signature)
        # Plain dicts on the hot path: a key lookup is cheaper than a model attribute.
        fields = [
            {
                **f.model_dump(),
                "_allowed": frozenset(f.categories) if f.categories is not None else None,
                "_low": bounds(f)[0],
                "_high": bounds(f)[1],
            }
            for f in signature
        ]
        self.converters = [(f, f["name"], _number if f["type"] == FLOAT else _category) for f in fields]
        self._fields = fields
        self._row = itemgetter(*(f.name for f in signature)) if signature else None
        self._numeric_at = [i for i, f in enumerate(signature) if f.type == FLOAT]
        self._whole = np.array([signature[i].integer for i in self._numeric_at], dtype=bool)  # by numeric feature
        self._text_at = [i for i, f in enumerate(signature) if f.type != FLOAT]
        self.required = frozenset(f.name for f in signature if not f.nullable)
        numeric = [f for f in signature if f.type == FLOAT]
        self.lows = np.array([bounds(f)[0] for f in numeric], dtype=np.float64)
        self.highs = np.array([bounds(f)[1] for f in numeric], dtype=np.float64)
        # built on the first body decoded: only the predict path decodes bodies
        self._decoder: tuple[Any, list[SignatureField]] | None = None  # (None, []): no body is decoded

    def _columns(self, instances: list[Any]) -> list[tuple[Any, ...]] | None:
        """The batch as one tuple per feature, when every row is an object with exactly the features."""
        if self._row is None:
            return None
        try:
            rows = list(map(self._row, instances))  # KeyError: a feature missing; TypeError: not an object
        except (KeyError, TypeError):
            return None
        if set(map(len, instances)) != {len(self.names)}:  # an unknown feature besides them
            return None
        return list(zip(*rows, strict=True)) if len(self.signature) > 1 else [tuple(rows)]

    def _numbers(self, columns: list[tuple[Any, ...]]) -> np.ndarray | None:
        """The numeric features as a float64 matrix (a row per feature) when all are numbers in bounds."""
        numeric = [columns[i] for i in self._numeric_at]
        if not numeric:
            return np.empty((0, len(columns[0]) if columns else 0))
        if not set(map(type, chain.from_iterable(numeric))) <= {float, int}:
            return None
        try:
            matrix = np.array(numeric, dtype=np.float64).reshape(len(numeric), -1)
        except OverflowError:
            return None
        in_bounds = (matrix >= self.lows[:, None]) & (matrix <= self.highs[:, None])  # NaN fails both
        return matrix if in_bounds.all() and not _fractional(matrix[self._whole]) else None

    def _texts_clean(self, columns: list[tuple[Any, ...]]) -> bool:
        """Whether every categorical value is text the feature accepts."""
        for i in self._text_at:
            allowed, column = self._fields[i]["_allowed"], columns[i]
            if set(map(type, column)) != {str}:
                return False
            if not (set(column) <= allowed if allowed is not None else all(map(str.isascii, column))):
                return False
        return True

    def _at_once(self, instances: list[Any]) -> Inputs | None:
        """The whole batch checked column by column in C loops and numpy (the common case: every row
        complete and clean); None sends it value by value, which finds and names what is wrong."""
        columns = self._columns(instances)
        if columns is None or not self._texts_clean(columns):
            return None
        matrix = self._numbers(columns)
        if matrix is None:
            return None
        values: dict[str, Any] = {}
        tensors: dict[str, np.ndarray] = {}
        single = matrix.astype(np.float32)  # one conversion; each feature's tensor is a view of its row
        for row, i in enumerate(self._numeric_at):
            name = self.signature[i].name
            values[name] = matrix[row]
            tensors[name] = single[row].reshape(-1, 1)
        for i in self._text_at:
            name = self.signature[i].name
            values[name] = list(columns[i])
            tensors[name] = np.array(columns[i], dtype=object).reshape(-1, 1)
        return Inputs({field.name: tensors[field.name] for field in self.signature}, values, len(instances))

    def decode(self, body: str, max_rows: int) -> Inputs | None:
        """A request body `{"instances": [...]}` decoded and checked in one pass (msgspec, typed by the signature):
        the common case, every row clean and the batch within `max_rows`. None for any other body, which the
        caller then parses and validates value by value: that path names what is wrong, reads `dataframe_split`,
        and accepts what this one leaves to it (a `NaN` token for a nullable feature, non-ASCII text)."""
        import msgspec  # the predict path only (the batch job validates tables, never bodies)

        if self._decoder is None:
            self._decoder = request_decoder(self.signature)
        decoder, order = self._decoder
        if decoder is None:
            return None
        try:
            request = decoder.decode(body)
        # RecursionError: a member nested too deeply; UnicodeEncodeError: a lone surrogate in the text
        except (msgspec.MsgspecError, RecursionError, UnicodeEncodeError):
            return None
        rows = request.instances
        if request.dataframe_split is not msgspec.UNSET or not 0 < len(rows) <= max_rows:
            return None
        columns = zip(*map(msgspec.structs.astuple, rows), strict=True)  # a tuple per feature, in the row's order
        values: dict[str, Any] = {}
        tensors: dict[str, np.ndarray] = {}
        for field, column in zip(order, columns, strict=True):
            if field.type == FLOAT:
                # one pass, where np.array first looks the values over (only a nullable feature has a None: NaN)
                numbers = np.array(column, np.float64) if field.nullable else np.fromiter(column, np.float64, len(rows))
                if field.integer and _fractional(numbers):
                    return None  # checked value by value, which names the row
                values[field.name] = numbers
                tensors[field.name] = numbers.astype(np.float32).reshape(-1, 1)
                continue
            texts = list(column)
            if field.categories is None and not all(map(str.isascii, filter(None, texts))):
                return None  # text outside ASCII: checked value by value (JSON's escapes can carry lone surrogates)
            values[field.name] = texts
            if field.nullable and None in texts:
                texts = ["" if v is None else v for v in texts]  # the tensor's missing text; capture keeps None
            tensors[field.name] = np.array(texts, dtype=object).reshape(-1, 1)
        return Inputs({field.name: tensors[field.name] for field in self.signature}, values, len(rows))

    def __call__(self, instances: Any, max_rows: int) -> Inputs:
        """Turn a request's rows into model inputs, or raise naming the offending row and field.

        Raises
        ------
        BadRequestError
            For a batch that is not a non-empty list of objects, a missing, unknown, null (where not
            nullable), non-finite, mistyped or unknown-category value.
        PayloadTooLargeError
            For more rows than `max_rows`.
        """
        check_batch(instances, max_rows)
        if len(instances) >= BULK_ROWS:
            checked = self._at_once(instances)
            if checked is not None:
                return checked
        for row, record in enumerate(instances):
            if type(record) is not dict:
                raise BadRequestError(f"instances[{row}]: expected an object", field=f"instances[{row}]")
            if len(record) != len(self.names) or not self.names.issuperset(record):
                unknown = sorted(set(record) - self.names)
                if unknown:
                    raise _bad(row, unknown[0], UNKNOWN_FEATURE)
                missing = sorted(self.required - set(record))
                if missing:
                    raise _bad(row, missing[0], MISSING_FEATURE)
        values: dict[str, list[Any]] = {}
        for field, name, convert in self.converters:
            # A nullable feature may be left out of a row: it is missing, like null.
            column = [record.get(name) for record in instances]
            # Bulk checks pay off from a few dozen rows; a single row is faster value by value.
            clean = _clean_column(column, field) if len(column) >= BULK_ROWS else None
            # The slow path finds and names the offending value.
            values[name] = clean if clean is not None else [convert(v, row, field) for row, v in enumerate(column)]
        return Inputs(tensors_from_columns(values, self.signature), values, len(instances))


def request_decoder(signature: list[SignatureField]) -> tuple[Any, list[SignatureField]]:
    """A msgspec decoder of `{"instances": [...]}` that accepts only rows the signature takes as they are: every
    feature (a nullable one may be null or left out) and no other, numbers within their bounds (JSON's integers
    too, not booleans), categories among the model's. Another top-level member fails the decode, so that
    `parse_body` names it; `dataframe_split` is kept aside so that the caller can refuse a body with both. With
    it, the signature's fields in the order of a decoded row's values (msgspec puts the features that may be left
    out last). No decoder (None) for a signature with a feature that accepts no value (`categories: []`) or no
    feature."""
    import msgspec

    if not signature or any(field.categories == [] for field in signature):
        return None, []

    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for i, field in enumerate(signature):
        kind: Any
        if field.type == FLOAT:
            low, high = bounds(field)
            kind = Annotated[float, msgspec.Meta(ge=low, le=high)]
        else:
            kind = Literal[tuple(field.categories)] if field.categories is not None else str
        # positional names: a feature's name need not be a Python identifier (rename maps them back)
        fields.append((f"f{i}", kind | None, None) if field.nullable else (f"f{i}", kind))
    rename = {f"f{i}": field.name for i, field in enumerate(signature)}
    # gc=False: a row holds only numbers, text and None, never a cycle
    row = msgspec.defstruct("Row", fields, rename=rename, kw_only=True, forbid_unknown_fields=True, gc=False)
    request = msgspec.defstruct(
        "Request",
        [("instances", list[row]), ("dataframe_split", msgspec.Raw, msgspec.UNSET)],  # type: ignore[valid-type]
        forbid_unknown_fields=True,
    )
    order = [signature[int(name.removeprefix("f"))] for name in row.__struct_fields__]
    return msgspec.json.Decoder(request), order


def validate_instances(instances: Any, signature: list[SignatureField], max_rows: int) -> Inputs:
    """`InputValidator(signature)(instances, max_rows)`, for one-off use."""
    return InputValidator(signature)(instances, max_rows)


def tensors_from_columns(
    values: Mapping[str, list[Any] | np.ndarray], signature: list[SignatureField]
) -> dict[str, np.ndarray]:
    """Model inputs of shape (rows, 1) from clean columns: float32 (NaN if missing) or strings ("" if missing).

    A column is a list (`None` if missing), or a numpy array: float64 (NaN if missing) or objects (`None`).
    """
    tensors = {}
    for field in signature:
        column = values[field.name]
        if isinstance(column, np.ndarray):
            if column.dtype == object:  # compared in numpy, not value by value
                column = np.where(column == None, "", column)  # noqa: E711
        elif None in column:
            column = [(np.nan if field.type == FLOAT else "") if v is None else v for v in column]
        dtype = np.float32 if field.type == FLOAT else object
        tensors[field.name] = np.array(column, dtype=dtype).reshape(-1, 1)
    return tensors
