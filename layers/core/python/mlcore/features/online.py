"""The online store: each entity's newest feature values, materialized from the view's offline store.

One DynamoDB item per view and entity (`pk` = `online_key`), holding the values as JSON in `doc` and their
event time in `event_time` (microseconds since the epoch). Every write is conditional on being newer than
the item's, so a late or repeated materialization never moves an entity back in time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcore.catalog import MaterializeRun, ViewMaterialized, ingest_id, online_key
from mlcore.data import OfflineFile, offline_files, read_offline, view_schema
from mlcore.errors import BadRequestError, MlopsError
from mlcore.registry import Registry, ViewRecord
from mlcore.storage import ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Newer, or as new and ingested later (a correction re-ingested with the same time replaces the value, as the
# training set's as-of join takes the last-ingested of equal times).
NEWER = "attribute_not_exists(pk) OR event_time < :t OR (event_time = :t AND ingest <= :i)"


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
        "ingest": {"S": row[INGEST]},
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
    done_ingests = set(record.materialized_ingests)
    files = [
        f for f in offline_files(name, data) if f.ingest >= record.materialized_before and f.ingest not in done_ingests
    ]
    result = ViewMaterialized(view=name, through=record.materialized_through, newest_event_at=record.newest_event_at)
    if files:
        rows = _with_ingests(files, view_schema(view.entities, view.timestamp, view.features), data)
        latest = latest_rows(rows, view.entities, view.timestamp)
        written = kept = 0
        for row in latest.to_pylist():
            item = _item(name, row, view.entities, view.timestamp, view.feature_names)
            try:
                dynamodb.put_item(
                    TableName=table, Item=item, ConditionExpression=NEWER,
                    ExpressionAttributeValues={":t": item["event_time"], ":i": item["ingest"]},
                )  # fmt: skip
                written += 1
            except dynamodb.exceptions.ConditionalCheckFailedException:
                kept += 1
        newest = pc.max(latest.column(view.timestamp)).as_py() if latest.num_rows else None
        if newest is not None and record.newest_event_at is not None:
            newest = max(newest, datetime.fromisoformat(record.newest_event_at))
        newest_at = newest.isoformat() if newest is not None else record.newest_event_at
        progress = _progress(record, {f.ingest for f in files}, newest_at)
        registry.set_materialized(record, progress)
        done = {"files": len(files), "rows": rows.num_rows, "written": written, "kept": kept}
        result = result.model_copy(update={**done, "through": progress["materialized_through"],
                                           "newest_event_at": newest_at})  # fmt: skip
    return _freshness(result, view.ttl_hours, now or datetime.now(UTC))


INGEST = "__ingest"  # which ingest a row came from: orders rows of equal time, as the training set does


def _with_ingests(files: list[OfflineFile], schema: pa.Schema, data: ObjectStore) -> pa.Table:
    """The files' rows, in ingest order, each with its ingest id."""
    tables = []
    for file in files:
        rows = read_offline([file], schema, data)
        tables.append(rows.append_column(INGEST, pa.array([file.ingest] * rows.num_rows, pa.string())))
    return pa.concat_tables(tables) if tables else schema.empty_table().append_column(INGEST, pa.array([], pa.string()))


LOOKBACK = timedelta(days=7)  # an ingest still running this long after a later one started is not waited for


def _progress(record: ViewRecord, ingests: set[str], newest_at: str | None) -> dict[str, Any]:
    """What the view's record keeps of this materialization: the ingests done since a bound, pruned to a week."""
    done = sorted({*record.materialized_ingests, *ingests})
    newest = done[-1]
    started = datetime.strptime(newest.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    bound = ingest_id(started - LOOKBACK, "")
    return {
        "materialized_through": max(newest, record.materialized_through),
        "materialized_ingests": [ingest for ingest in done if ingest >= bound],
        "materialized_before": max(record.materialized_before, bound),
        "newest_event_at": newest_at,
    }


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
        except dynamodb.exceptions.ClientError as error:  # an AWS error (throttled, refused): the others go on
            views.append(ViewMaterialized(view=name, error=f"{type(error).__name__}: {error}"))
    return MaterializeRun(views=views)
