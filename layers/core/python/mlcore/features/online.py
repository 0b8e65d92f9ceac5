"""The online store: each entity's newest feature values, materialized from the view's offline store.

One DynamoDB item per view and entity (`pk` = `online_key`), holding the values as JSON in `doc` and their
event time in `event_time` (microseconds since the epoch). Every write is conditional on being newer than
the item's, so a late or repeated materialization never moves an entity back in time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcore.catalog import MaterializeRun, ViewMaterialized, online_key
from mlcore.data import offline_files, read_offline, view_schema
from mlcore.errors import BadRequestError, MlopsError
from mlcore.registry import Registry, ViewRecord
from mlcore.storage import ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NEWER = "attribute_not_exists(pk) OR event_time < :t"


def create_online_table(client: DynamoDBClient, name: str) -> None:
    """Create an online store table (for tests and benchmarks; deployments get theirs from the CDK app)."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


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
    name: str,
    *,
    registry: Registry,
    data: ObjectStore,
    dynamodb: DynamoDBClient,
    table: str,
    now: datetime | None = None,
) -> ViewMaterialized:
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
        raise BadRequestError(f"view '{name}' is not online: set `online: true` and register it again",
                              field="online")  # fmt: skip
    files = [f for f in offline_files(name, data) if f.ingest > record.materialized_through]
    result = ViewMaterialized(view=name, through=record.materialized_through, newest_event_at=record.newest_event_at)
    if files:
        rows, _ = read_offline(files, view_schema(view.entities, view.timestamp, view.features), data)
        latest = latest_rows(rows, view.entities, view.timestamp)
        written = kept = 0
        for row in latest.to_pylist():
            item = _item(name, row, view.entities, view.timestamp, view.feature_names)
            try:
                dynamodb.put_item(
                    TableName=table, Item=item, ConditionExpression=NEWER,
                    ExpressionAttributeValues={":t": item["event_time"]},
                )  # fmt: skip
                written += 1
            except dynamodb.exceptions.ConditionalCheckFailedException:
                kept += 1
        newest = pc.max(latest.column(view.timestamp)).as_py() if latest.num_rows else None
        if newest is not None and record.newest_event_at is not None:
            newest = max(newest, datetime.fromisoformat(record.newest_event_at))
        newest_at = newest.isoformat() if newest is not None else record.newest_event_at
        registry.set_materialized(record, files[-1].ingest, newest_at)
        done = {"files": len(files), "rows": rows.num_rows, "written": written, "kept": kept}
        result = result.model_copy(update={**done, "through": files[-1].ingest, "newest_event_at": newest_at})
    return _freshness(result, view.ttl_hours, now or datetime.now(UTC))


def _freshness(result: ViewMaterialized, ttl_hours: float, now: datetime) -> ViewMaterialized:
    if result.newest_event_at is None:
        return result.model_copy(update={"stale": True})  # nothing to serve yet
    age = (now - datetime.fromisoformat(result.newest_event_at)).total_seconds() / 3600
    return result.model_copy(update={"age_hours": round(age, 3), "stale": age > ttl_hours})


def materialize_online_views(
    *, registry: Registry, data: ObjectStore, dynamodb: DynamoDBClient, table: str, now: datetime | None = None
) -> MaterializeRun:
    """Materialize every online view (the platform's tick); a view that fails is reported, the others go on."""
    views = []
    for record in registry.list_views():
        if not record.view.online:
            continue
        name = record.view.name
        try:
            views.append(materialize_view(name, registry=registry, data=data, dynamodb=dynamodb, table=table, now=now))
        except MlopsError as error:  # a view's own fault (its files, a concurrent run): the next tick retries it
            views.append(ViewMaterialized(view=name, error=f"{type(error).__name__}: {error.message}"))
    return MaterializeRun(views=views)
