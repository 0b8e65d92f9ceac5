"""What several functional tests do: a table as the bytes of a CSV file (Parquet: `mlcore.data.to_parquet`)."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv


def csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()
