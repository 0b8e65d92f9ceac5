"""Datasets as Arrow tables: reading CSV and Parquet, the newest upload, the train/holdout split."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlcore.catalog import dataset_prefix
from mlcore.errors import DataValidationError, NotFoundError
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore


def read_table(data: bytes, key: str) -> pa.Table:
    """Read a CSV or parquet file given as bytes (by the key's suffix)."""
    try:
        if key.endswith((".parquet", ".pq")):
            return pq.read_table(io.BytesIO(data))
        if key.endswith((".csv", ".csv.gz")):
            compression = "gzip" if key.endswith(".gz") else None
            return pacsv.read_csv(pa.input_stream(io.BytesIO(data), compression=compression))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"dataset {key!r} cannot be read: {exc}") from exc
    raise DataValidationError(f"unsupported dataset format for {key!r}: use .csv, .csv.gz or .parquet")


def to_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def read_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def latest_dataset_key(model_name: str, data: ObjectStore) -> str:
    keys = sorted(data.list_keys(dataset_prefix(model_name)))
    if not keys:
        raise NotFoundError(f"no dataset under s3://{data.bucket}/{dataset_prefix(model_name)}; upload one first")
    return keys[-1]


def split_holdout(table: pa.Table, spec: ModelSpec) -> tuple[pa.Table, pa.Table]:
    """Deterministic train/holdout split by the spec's seed and fraction."""
    order = np.random.default_rng(spec.data.seed).permutation(table.num_rows)
    cut = round(table.num_rows * spec.data.holdout_fraction)
    return table.take(np.sort(order[cut:])), table.take(np.sort(order[:cut]))
