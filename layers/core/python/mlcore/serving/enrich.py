"""Enrichment at prediction: a row's feature-view features read from the online store by its entity keys.

A request may carry only a view's entity keys (and the request-time features): the features it leaves out
are read for every row in batched calls, used only while fresh (within the view's TTL), and then
validated and captured like the features a client sends. Entity keys that are not features are dropped
before validation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlcore.catalog import MICROS_PER_HOUR, ViewBinding, online_key
from mlcore.errors import BadRequestError, DependencyError
from mlcore.serving import jsonio
from mlcore.spec import ModelSpec

BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
UNPROCESSED_ATTEMPTS = 3
MAX_KEY_BYTES = 1024  # an entity key's text (DynamoDB refuses keys over 2048 bytes: a client's mistake, not ours)


class OnlineStore:
    """Reads the online store's items (a boto3 DynamoDB client, or the predict function's light one)."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def _batches(self, keys: list[str]) -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(keys), BATCH_GET_KEYS):
            yield [{"pk": {"S": key}} for key in keys[start : start + BATCH_GET_KEYS]]

    def get(self, keys: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """`{key: (event time in microseconds, values)}` of the keys the store has.

        Raises
        ------
        DependencyError
            When DynamoDB leaves keys unprocessed after retries (throttled).
        """
        found: dict[str, tuple[int, dict[str, Any]]] = {}
        for batch in self._batches(keys):
            request: dict[str, Any] = {self.table: {"Keys": batch, "ProjectionExpression": "pk, event_time, doc"}}
            for _ in range(UNPROCESSED_ATTEMPTS):
                page = self.client.batch_get_item(RequestItems=request)
                for item in page.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"]] = (int(item["event_time"]["N"]), json.loads(item["doc"]["S"]))
                request = page.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise DependencyError("the online feature store left keys unprocessed (throttled); retry")
        return found


def _bad(row: int, name: str, message: str) -> BadRequestError:
    return BadRequestError(f"instances[{row}].{name}: {message}", field=f"instances[{row}].{name}")


def _entity_values(row: dict[str, Any], index: int, view: str, binding: ViewBinding) -> list[str]:
    values = []
    for entity in binding.entities:
        value = jsonio.whole(row.get(entity))
        if type(value) is int:  # an id sent as a number is the same entity as its text
            value = str(value)
        what = f"the entity key of feature view '{view}'"
        if value is None or value == "":  # left out, null or empty
            raise _bad(index, entity, f"is missing: {what} (a text or an integer)")
        if type(value) is not str:
            raise _bad(index, entity, f"expected a text or an integer ({what}), got {type(value).__name__}")
        if len(value.encode()) > MAX_KEY_BYTES:
            raise _bad(
                index, entity, f"is longer than {MAX_KEY_BYTES} bytes: no entity of view '{view}' has such a key"
            )
        values.append(value)
    return values


def _wanted(records: list[Any], spec: ModelSpec) -> dict[int, list[tuple[str, str, str]]]:
    """Per row, the views whose features it does not all carry: (view, online key, the entity in words). A row
    without the view's keys that leaves out only nullable features of it reads nothing: they are missing, as the
    API's document allows (a required one left out needs the keys, which the 400 names)."""
    wanted: dict[int, list[tuple[str, str, str]]] = {}
    for index, row in enumerate(records):
        if type(row) is not dict:
            continue  # the validator names it
        for view, binding in spec.views.items():
            left_out = [name for name in binding.features if name not in row]
            if spec.joins_view(binding, left_out, keyed=all(entity in row for entity in binding.entities)):
                values = _entity_values(row, index, view, binding)
                entity = ", ".join(f"{name} {value!r}" for name, value in zip(binding.entities, values, strict=True))
                wanted.setdefault(index, []).append((view, online_key(view, values), entity))
    return wanted


def with_online_features(records: list[Any], spec: ModelSpec, store: OnlineStore, now_micros: int) -> list[Any]:
    """The rows with their missing view features filled from the online store, and entity-only keys dropped.

    A stored value older than its view's TTL (or none at all) is a null: accepted for a nullable feature,
    else a 400 naming the row and the feature.

    Raises
    ------
    BadRequestError
        For a row without an entity key it needs, or without a fresh value for a required feature.
    DependencyError
        When the online store does not answer.
    """
    wanted = _wanted(records, spec)
    items = store.get(sorted({key for views in wanted.values() for _, key, _ in views})) if wanted else {}
    features = set(spec.feature_names)
    entity_only = {entity for b in spec.views.values() for entity in b.entities} - features
    enriched: list[Any] = []
    for index, row in enumerate(records):
        if type(row) is not dict:
            enriched.append(row)
            continue
        filled = {name: value for name, value in row.items() if name not in entity_only}
        for view, key, entity in wanted.get(index, []):
            binding = spec.views[view]
            event_micros, values = items.get(key, (None, {}))
            age_hours = None if event_micros is None else (now_micros - event_micros) / MICROS_PER_HOUR
            # in whole microseconds, as the training set's join counts the TTL; a value stamped in the future (a
            # clock ahead, a zone read as UTC) is never used, as the training set never uses one
            fresh = event_micros is not None and 0 <= now_micros - event_micros <= binding.ttl_micros
            for name in binding.features:
                if name in row:
                    continue  # the client's value
                value = values.get(name) if fresh else None
                if value is None and not spec.feature(name).nullable:
                    found = "no value" if age_hours is None else f"only a value {age_hours:.1f} h old"
                    if age_hours is not None and age_hours < 0:
                        found = f"only a value stamped {-age_hours:.1f} h in the future"
                    elif event_micros is not None and name not in values:
                        found = "no value of this feature (ingested before the view had it)"
                    raise _bad(
                        index,
                        name,
                        f"feature view '{view}' has {found} for {entity} (its ttl is {binding.ttl_hours:g} h): "
                        "send the feature, or ingest and materialize the view",
                    )
                filled[name] = value
        enriched.append(filled)
    return enriched
