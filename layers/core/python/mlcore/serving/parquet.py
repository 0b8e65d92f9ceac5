"""A small Parquet writer (numpy only) for captured traffic.

The predict function cannot carry pyarrow next to onnxruntime (the two exceed Lambda's 250 MB), so
it writes Parquet itself: one row group, one uncompressed PLAIN-encoded data page per column, every
column OPTIONAL (nulls as definition levels), metadata in Thrift's compact protocol. Readers
(pyarrow, Athena, Spark) read it like any other Parquet file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

# parquet.thrift enums
_INT64, _DOUBLE, _BYTE_ARRAY = 2, 5, 6
_OPTIONAL = 1
_UTF8, _TIMESTAMP_MILLIS = 0, 9
_PLAIN, _RLE = 0, 3
_DATA_PAGE = 0
# Thrift compact protocol types
_I32, _I64, _BINARY, _LIST, _STRUCT = 5, 6, 8, 9, 12

KINDS = {"int64": (_INT64, None), "double": (_DOUBLE, None), "string": (_BYTE_ARRAY, _UTF8),
         "timestamp_ms": (_INT64, _TIMESTAMP_MILLIS)}  # fmt: skip
REPEATS = 4  # a string column with each value this many times on average is written from its distinct values


@dataclass(frozen=True)
class Runs:
    """A column as runs of one value (`counts[i]` rows of `values[i]`; None is null): a request's id on each of its
    rows, encoded a run at a time rather than value by value."""

    values: list[Any]
    counts: list[int]

    def __len__(self) -> int:
        return sum(self.counts)

    def __iter__(self) -> Iterator[Any]:
        for value, count in zip(self.values, self.counts, strict=True):
            yield from repeat(value, count)

    def __getitem__(self, rows: slice) -> list[Any]:
        return list(self)[rows]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(value: int) -> bytes:
    return _varint((value << 1) ^ (value >> 63))


class _Struct:
    """Thrift compact encoding of one struct: fields must be added in increasing id order."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.last = 0

    def _header(self, field: int, kind: int) -> None:
        delta = field - self.last
        self.out += bytes([(delta << 4) | kind]) if 0 < delta <= 15 else bytes([kind]) + _zigzag(field)
        self.last = field

    def i32(self, field: int, value: int) -> _Struct:
        self._header(field, _I32)
        self.out += _zigzag(value)
        return self

    def i64(self, field: int, value: int) -> _Struct:
        self._header(field, _I64)
        self.out += _zigzag(value)
        return self

    def string(self, field: int, value: str) -> _Struct:
        data = value.encode()
        self._header(field, _BINARY)
        self.out += _varint(len(data)) + data
        return self

    def struct(self, field: int, value: _Struct) -> _Struct:
        self._header(field, _STRUCT)
        self.out += value.end()
        return self

    def list(self, field: int, kind: int, items: Sequence[Any]) -> _Struct:
        self._header(field, _LIST)
        size = len(items)
        self.out += bytes([(size << 4) | kind]) if size < 15 else bytes([0xF0 | kind]) + _varint(size)
        for item in items:
            if kind == _STRUCT:
                self.out += item.end()
            elif kind == _BINARY:
                data = item.encode()
                self.out += _varint(len(data)) + data
            else:
                self.out += _zigzag(item)
        return self

    def end(self) -> bytes:
        return bytes(self.out) + b"\x00"


def _definition_levels(present: np.ndarray) -> bytes:
    """RLE runs of 1-bit definition levels, length-prefixed as a v1 data page wants them."""
    encoded = bytearray()
    if not len(present):
        return struct.pack("<i", 0)
    if present.all():  # the common column: one run, found without a pass over the changes
        encoded += _varint(len(present) << 1) + b"\x01"
        return struct.pack("<i", len(encoded)) + bytes(encoded)
    changes = np.flatnonzero(np.diff(present.astype(np.int8))) + 1
    starts = np.concatenate(([0], changes))
    ends = np.concatenate((changes, [len(present)]))
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        encoded += _varint((end - start) << 1) + bytes([int(present[start])])
    return struct.pack("<i", len(encoded)) + bytes(encoded)


def _laid_out(values: Iterable[str]) -> dict[str, bytes]:
    """Each distinct value's PLAIN byte array: its UTF-8 length (4 bytes) and its UTF-8."""
    return {value: struct.pack("<i", len(data)) + data for value in values for data in (value.encode(),)}


def _plain_strings(values: Sequence[str], distinct: dict[str, None]) -> bytes:
    """PLAIN byte arrays (a 4-byte length before each UTF-8 value): a column of few values from each distinct one
    encoded once, any other laid out by numpy rather than value by value (`distinct`: the values' distinct ones)."""
    if len(distinct) * REPEATS <= len(values):  # a request's id, a category, a label: each value laid out once
        return b"".join(map(_laid_out(distinct).__getitem__, values))
    joined = "".join(values).encode()
    if len(joined) == sum(map(len, values)):  # all ASCII: a value's length in characters is its length in bytes
        lengths = np.fromiter(map(len, values), dtype="<i4", count=len(values))
    else:
        encoded = [value.encode() for value in values]
        lengths = np.fromiter(map(len, encoded), dtype="<i4", count=len(encoded))
    data = np.frombuffer(joined, dtype=np.uint8)
    out = np.empty(4 * len(values) + data.size, dtype=np.uint8)
    # Where each length prefix starts: after the previous values and their prefixes.
    starts = 4 * np.arange(len(values)) + np.concatenate(([0], np.cumsum(lengths)[:-1]))
    prefixes = (starts[:, None] + np.arange(4)).ravel()
    out[prefixes] = lengths.view(np.uint8)
    values_at = np.ones(out.size, dtype=bool)
    values_at[prefixes] = False
    out[values_at] = data
    return out.tobytes()


def _plain_numbers(kind: str, values: Sequence[Any] | np.ndarray) -> memoryview:
    """The values' little-endian bytes, not copied out of an array of that type (the file's join copies them)."""
    return np.ascontiguousarray(values, dtype="<f8" if kind == "double" else "<i8").data.cast("B")


def _encode_runs(kind: str, runs: Runs) -> tuple[np.ndarray, bytes | memoryview]:
    """`_encode` of a column given as runs: a run's value is encoded once, whatever its length."""
    present = np.repeat([value is not None for value in runs.values], runs.counts)
    kept = [(value, count) for value, count in zip(runs.values, runs.counts, strict=True) if value is not None]
    if kind != "string":
        return present, _plain_numbers(kind, np.repeat([value for value, _ in kept], [n for _, n in kept]))
    laid = _laid_out(value for value, _ in kept)
    return present, b"".join(laid[value] * count for value, count in kept)


def _encode(kind: str, values: Sequence[Any] | np.ndarray | Runs) -> tuple[np.ndarray, bytes | memoryview]:
    """Which values are present, and the PLAIN encoding of those that are.

    A sequence (or runs) has `None` for null (NaN is a value). A numpy array is numbers: in a float array NaN
    is null (the capture's missing feature values), an integer array has none.
    """
    if isinstance(values, Runs):
        return _encode_runs(kind, values)
    if isinstance(values, np.ndarray):
        present = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(len(values), dtype=bool)
        return present, _plain_numbers(kind, values if present.all() else values[present])
    distinct = dict.fromkeys(values)  # one hash per value (a string's is cached): its nulls, and its repeats
    kept: Sequence[Any] = values
    present = np.ones(len(values), dtype=bool)
    if None in distinct:
        if len(distinct) == 1:  # a column the request did not fill (a shadow's labels)
            return np.zeros(len(values), dtype=bool), b""
        present = np.array(values, dtype=object) != None  # noqa: E711 (elementwise in C, not identity)
        kept = [v for v in values if v is not None]
        del distinct[None]
    if kind == "string":
        return present, _plain_strings(kept, distinct)
    return present, _plain_numbers(kind, kept)


def write_parquet(
    columns: Sequence[tuple[str, str, Sequence[Any] | np.ndarray | Runs]], created_by: str = "mlops capture"
) -> bytes:
    """Encode columns `(name, kind, values)` as a Parquet file; `kind` is int64, double, string or timestamp_ms.

    `None` (or NaN in a float64 array) is null. Every column must have the same number of values.
    """
    rows = len(columns[0][2]) if columns else 0
    parts: list[bytes | memoryview] = [b"PAR1"]
    offset = 4  # joined once at the end: the pages are copied once
    chunks, schema = [], [_Struct().string(4, "schema").i32(5, len(columns))]
    for name, kind, values in columns:
        if len(values) != rows:
            raise ValueError(f"column {name!r} has {len(values)} values, expected {rows}")
        physical, converted = KINDS[kind]
        present, plain = _encode(kind, values)
        levels = _definition_levels(present)
        size = len(levels) + len(plain)
        page = (
            _Struct().i32(1, _DATA_PAGE).i32(2, size).i32(3, size)
            .struct(5, _Struct().i32(1, rows).i32(2, _PLAIN).i32(3, _RLE).i32(4, _RLE))
            .end()
        )  # fmt: skip
        parts += (page, levels, plain)
        meta = (
            _Struct().i32(1, physical).list(2, _I32, [_PLAIN, _RLE]).list(3, _BINARY, [name]).i32(4, 0)
            .i64(5, rows).i64(6, len(page) + size).i64(7, len(page) + size).i64(9, offset)
        )  # fmt: skip
        chunks.append(_Struct().i64(2, offset).struct(3, meta))
        offset += len(page) + size
        element = _Struct().i32(1, physical).i32(3, _OPTIONAL).string(4, name)
        schema.append(element.i32(6, converted) if converted is not None else element)
    row_group = _Struct().list(1, _STRUCT, chunks).i64(2, offset - 4).i64(3, rows)
    footer = (
        _Struct().i32(1, 1).list(2, _STRUCT, schema).i64(3, rows).list(4, _STRUCT, [row_group])
        .string(6, created_by).end()
    )  # fmt: skip
    parts += (footer, struct.pack("<i", len(footer)), b"PAR1")
    return b"".join(parts)
