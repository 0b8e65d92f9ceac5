"""Registry events on EventBridge, from the registry table's stream: what integrations subscribe to.

Every change of a version or an alias reaches the stream, whoever made it (a pipeline step, the CLI, a
person with table access), so the events are complete: `VersionRegistered`, `VersionApproved`,
`VersionRejected`, `VersionArchived` and `AliasMoved` (`version` null when an alias is removed), with
`source: mlops.registry`. EventBridge may deliver an event twice: `event_id` (the stream record's id)
tells a consumer it has seen one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlcore.errors import TransientError
from mlcore.registry.records import AliasRecord, ModelVersion, VersionStatus

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "mlops.registry"
VERSION_REGISTERED, ALIAS_MOVED = "VersionRegistered", "AliasMoved"
STATUS_EVENTS = {
    VersionStatus.APPROVED: "VersionApproved",
    VersionStatus.REJECTED: "VersionRejected",
    VersionStatus.ARCHIVED: "VersionArchived",
}
PUT_EVENTS_MAX = 10  # entries per PutEvents call


def _document(image: dict[str, Any] | None) -> tuple[str, str, str] | None:
    """(model, sort key, document) of a registry item's stream image, or None for another kind of item."""
    if not image or not image.get("pk", {}).get("S", "").startswith("MODEL#"):
        return None
    return image["pk"]["S"].removeprefix("MODEL#"), image["sk"]["S"], image.get("doc", {}).get("S", "{}")


def _version_events(old: str | None, new: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    after = ModelVersion.model_validate_json(new) if new else None
    before = ModelVersion.model_validate_json(old) if old else None
    if after is None:
        return
    detail = {"model": after.model_name, "version": after.version, "status": after.status, "run_id": after.run_id}
    if before is None:
        yield VERSION_REGISTERED, {**detail, "metrics": after.metrics}
    if after.status in STATUS_EVENTS and (before is None or before.status != after.status):
        yield STATUS_EVENTS[after.status], detail


def _alias_events(model: str, old: str | None, new: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    after = AliasRecord.model_validate_json(new) if new else None
    before = AliasRecord.model_validate_json(old) if old else None
    if after is not None and before is not None and after.version == before.version:
        return  # the rollout's weight or mode changed, not where the alias points
    alias = (after or before).alias  # type: ignore[union-attr]  # one of them exists
    yield (
        ALIAS_MOVED,
        {
            "model": model,
            "alias": alias,
            "version": after.version if after else None,
            "previous_version": before.version if before else None,
            "reason": (after.reason if after else ""),
        },
    )


def registry_events(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The EventBridge entries (without the bus) of a batch of the registry stream's records, in order."""
    entries = []
    for record in records:
        change = record.get("dynamodb", {})
        old, new = _document(change.get("OldImage")), _document(change.get("NewImage"))
        model, sk, _ = new or old or ("", "", "")
        if sk.startswith("VERSION#"):
            found = _version_events(old[2] if old else None, new[2] if new else None)
        elif sk.startswith("ALIAS#"):
            found = _alias_events(model, old[2] if old else None, new[2] if new else None)
        else:
            continue
        for detail_type, detail in found:
            identified = {**detail, "event_id": f"{record.get('eventID', '')}:{detail_type}"}
            entries.append({"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(identified, default=str)})
    return entries


def publish_events(entries: list[dict[str, Any]], client: EventBridgeClient, bus: str = "default") -> int:
    """Put the entries on the bus, ten at a time.

    Raises
    ------
    TransientError
        When EventBridge refuses an entry: the stream batch is retried (consumers dedupe by `event_id`).
    """
    for start in range(0, len(entries), PUT_EVENTS_MAX):
        batch = [{**entry, "EventBusName": bus} for entry in entries[start : start + PUT_EVENTS_MAX]]
        answer = client.put_events(Entries=batch)
        if answer.get("FailedEntryCount"):
            failed = [e.get("ErrorCode") for e in answer.get("Entries", []) if e.get("ErrorCode")]
            raise TransientError(f"EventBridge refused {len(failed)} registry events ({sorted(set(failed))}); retrying")
    return len(entries)
