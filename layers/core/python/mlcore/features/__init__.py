"""The feature store: feature views' offline stores (Parquet in the Glue catalog) and the online store (DynamoDB).

`ingest` checks rows against a view's contract and appends them to its offline store; `online` keeps each
entity's newest values in the online store. Point-in-time training sets are built by the validate step
(`mlcore.data.point_in_time`), and the predict function reads the online store (`mlcore.serving.enrich`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.features.ingest import IngestResult, ingest_rows, read_source, source_rows
    from mlcore.features.online import create_online_table, latest_rows, materialize_online_views, materialize_view

__all__, __getattr__, __dir__ = surface(__name__, __file__)
