"""A small Parquet writer (numpy only) for captured traffic.

The predict function cannot carry pyarrow next to onnxruntime (the two exceed Lambda's 250 MB), so
it writes Parquet itself: one row group, one uncompressed PLAIN-encoded data page per column, every
column OPTIONAL (nulls as definition levels), metadata in Thrift's compact protocol. Readers
(pyarrow, Athena, Spark) read it like any other Parquet file.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
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
    changes = np.flatnonzero(np.diff(present.astype(np.int8))) + 1
    starts = np.concatenate(([0], changes))
    ends = np.concatenate((changes, [len(present)]))
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        encoded += _varint((end - start) << 1) + bytes([int(present[start])])
    return struct.pack("<i", len(encoded)) + bytes(encoded)


def _plain_strings(values: Sequence[str]) -> bytes:
    """PLAIN byte arrays (a 4-byte length before each UTF-8 value), laid out by numpy rather than value by value."""
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


def _encode(kind: str, values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, bytes]:
    """Which values are present, and the PLAIN encoding of those that are.

    A sequence has `None` for null (NaN is a value). A numpy array is numbers: in a float array NaN is
    null (the capture's missing feature values), an integer array has none.
    """
    if isinstance(values, np.ndarray):
        present = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(len(values), dtype=bool)
        kept: Any = values[present]
    elif None in values:  # compared in C, as is the mask below
        present = np.array(values, dtype=object) != None  # noqa: E711 (elementwise, not identity)
        kept = [v for v in values if v is not None]
    else:
        present, kept = np.ones(len(values), dtype=bool), values
    if kind == "string":
        return present, _plain_strings(kept)
    return present, np.asarray(kept, dtype="<f8" if kind == "double" else "<i8").tobytes()


def write_parquet(
    columns: Sequence[tuple[str, str, Sequence[Any] | np.ndarray]], created_by: str = "mlops capture"
) -> bytes:
    """Encode columns `(name, kind, values)` as a Parquet file; `kind` is int64, double, string or timestamp_ms.

    `None` (or NaN in a float64 array) is null. Every column must have the same number of values.
    """
    rows = len(columns[0][2]) if columns else 0
    out = bytearray(b"PAR1")
    chunks, schema = [], [_Struct().string(4, "schema").i32(5, len(columns))]
    for name, kind, values in columns:
        if len(values) != rows:
            raise ValueError(f"column {name!r} has {len(values)} values, expected {rows}")
        physical, converted = KINDS[kind]
        present, plain = _encode(kind, values)
        body = _definition_levels(present) + plain
        page = (
            _Struct().i32(1, _DATA_PAGE).i32(2, len(body)).i32(3, len(body))
            .struct(5, _Struct().i32(1, rows).i32(2, _PLAIN).i32(3, _RLE).i32(4, _RLE))
            .end()
        )  # fmt: skip
        offset = len(out)
        out += page + body
        meta = (
            _Struct().i32(1, physical).list(2, _I32, [_PLAIN, _RLE]).list(3, _BINARY, [name]).i32(4, 0)
            .i64(5, rows).i64(6, len(page) + len(body)).i64(7, len(page) + len(body)).i64(9, offset)
        )  # fmt: skip
        chunks.append(_Struct().i64(2, offset).struct(3, meta))
        element = _Struct().i32(1, physical).i32(3, _OPTIONAL).string(4, name)
        schema.append(element.i32(6, converted) if converted is not None else element)
    total = len(out) - 4
    row_group = _Struct().list(1, _STRUCT, chunks).i64(2, total).i64(3, rows)
    footer = (
        _Struct().i32(1, 1).list(2, _STRUCT, schema).i64(3, rows).list(4, _STRUCT, [row_group])
        .string(6, created_by).end()
    )  # fmt: skip
    out += footer + struct.pack("<i", len(footer)) + b"PAR1"
    return bytes(out)
