"""The online store: each entity's newest feature values, materialized from the view's offline store.

One DynamoDB item per view and entity (`pk` = `online_key`), holding the values as JSON in `doc` and their
event time in `event_time` (microseconds since the epoch). Every write is conditional on being newer than
the item's, so a late or repeated materialization never moves an entity back in time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcore.catalog import online_key
from mlcore.data import offline_files, read_offline, view_schema
from mlcore.errors import BadRequestError
from mlcore.registry import Registry, ViewRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

from mlcore.storage import ObjectStore

NEWER = "attribute_not_exists(pk) OR event_time < :t"


def create_online_table(client: DynamoDBClient, name: str) -> None:
    """Create an online store table (for tests and benchmarks; deployments get theirs from the CDK app)."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@dataclass(frozen=True)
class MaterializeResult:
    view: str
    files: int  # offline files read (those ingested since the last materialization)
    rows: int
    written: int  # entities whose item moved forward
    kept: int  # entities whose item already held newer values
    through: str  # the newest ingest now in the online store


def latest_rows(rows: pa.Table, entities: list[str], timestamp: str) -> pa.Table:
    """Each entity's newest row (the last ingested, between rows of the same time)."""
    if rows.num_rows == 0:
        return rows
    order = pa.array(np.arange(rows.num_rows))
    ranked = rows.append_column("__order", order).sort_by(
        [*((entity, "ascending") for entity in entities), (timestamp, "ascending"), ("__order", "ascending")]
    )
    keys = pc.binary_join_element_wise(*(ranked.column(entity) for entity in entities), "\x1f")
    text = keys.combine_chunks()
    last = np.ones(ranked.num_rows, dtype=bool)
    last[:-1] = pc.not_equal(text[:-1], text[1:]).to_numpy(zero_copy_only=False)
    return ranked.filter(pa.array(last)).drop_columns(["__order"])


def _item(view: str, row: dict[str, Any], entities: list[str], timestamp: str, features: list[str]) -> dict[str, Any]:
    micros = int(row[timestamp].timestamp() * 1_000_000)
    return {
        "pk": {"S": online_key(view, [row[entity] for entity in entities])},
        "event_time": {"N": str(micros)},
        "doc": {"S": json.dumps({name: row[name] for name in features}, separators=(",", ":"))},
    }


def materialize_view(
    name: str, *, registry: Registry, data: ObjectStore, dynamodb: DynamoDBClient, table: str
) -> MaterializeResult:
    """Bring the online store up to date with the view's offline files ingested since the last time.

    Raises
    ------
    BadRequestError
        When the view is not `online`.
    NotFoundError
        When no view of that name is registered.
    ConflictError
        When the view changed while it was materialized (another materialization ran): its writes stand
        (each only moves an entity forward) and the next run starts from the last recorded ingest.
    """
    record: ViewRecord = registry.get_view(name)
    view = record.view
    if not view.online:
        raise BadRequestError(f"view '{name}' is not online: set `online: true` and register it again", field="online")
    files = [f for f in offline_files(name, data) if f.ingest > record.materialized_through]
    if not files:
        return MaterializeResult(name, 0, 0, 0, 0, record.materialized_through)
    rows, _ = read_offline(files, view_schema(view.entities, view.timestamp, view.features), data)
    written = kept = 0
    for row in latest_rows(rows, view.entities, view.timestamp).to_pylist():
        item = _item(name, row, view.entities, view.timestamp, view.feature_names)
        try:
            dynamodb.put_item(
                TableName=table,
                Item=item,
                ConditionExpression=NEWER,
                ExpressionAttributeValues={":t": item["event_time"]},
            )
            written += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            kept += 1
    through = files[-1].ingest
    registry.set_materialized(record, through)
    return MaterializeResult(name, len(files), rows.num_rows, written, kept, through)
