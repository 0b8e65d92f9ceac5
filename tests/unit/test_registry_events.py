"""Registry events: the registry stream's records as EventBridge entries, and their publication."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlcore.errors import TransientError
from mlcore.registry import SOURCE, AliasRecord, ModelVersion, VersionStatus, publish_events, registry_events

NOW = "2026-03-01T00:00:00.000+00:00"


def _image(sk: str, document: str, model: str = "churn") -> dict[str, Any]:
    return {"pk": {"S": f"MODEL#{model}"}, "sk": {"S": sk}, "doc": {"S": document}}


def _version(status: VersionStatus, version: int = 3) -> str:
    record = ModelVersion(model_name="churn", version=version, run_id="run-9", status=status, created_at=NOW,
                          artifacts={}, metrics={"roc_auc": 0.81}, signature=[])  # fmt: skip
    return record.model_dump_json()


def _alias(version: int, weight: float = 0.0, alias: str = "champion") -> str:
    return AliasRecord(alias=alias, version=version, updated_at=NOW, weight=weight).model_dump_json()


def _record(old: dict[str, Any] | None, new: dict[str, Any] | None, event_id: str = "e1") -> dict[str, Any]:
    change: dict[str, Any] = {}
    if old:
        change["OldImage"] = old
    if new:
        change["NewImage"] = new
    return {"eventID": event_id, "eventName": "MODIFY" if old and new else "INSERT" if new else "REMOVE",
            "dynamodb": change}  # fmt: skip


def _events(*records: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    entries = registry_events(list(records))
    assert all(entry["Source"] == SOURCE for entry in entries)
    return [(entry["DetailType"], json.loads(entry["Detail"])) for entry in entries]


def test_a_new_pending_version_is_registered_and_its_approval_is_an_event_of_its_own() -> None:
    pending = _image("VERSION#00000003", _version(VersionStatus.PENDING))
    approved = _image("VERSION#00000003", _version(VersionStatus.APPROVED))
    [(kind, detail)] = _events(_record(None, pending, "e1"))
    assert kind == "VersionRegistered"
    assert detail == {"model": "churn", "version": 3, "status": "pending_approval", "run_id": "run-9",
                      "metrics": {"roc_auc": 0.81}, "event_id": "e1:VersionRegistered"}  # fmt: skip
    assert [kind for kind, _ in _events(_record(pending, approved))] == ["VersionApproved"]


def test_an_auto_approved_version_is_registered_and_approved() -> None:
    approved = _image("VERSION#00000003", _version(VersionStatus.APPROVED))
    assert [kind for kind, _ in _events(_record(None, approved))] == ["VersionRegistered", "VersionApproved"]


@pytest.mark.parametrize(
    ("status", "kind"), [(VersionStatus.REJECTED, "VersionRejected"), (VersionStatus.ARCHIVED, "VersionArchived")]
)
def test_a_recall_or_a_retirement_is_an_event(status: VersionStatus, kind: str) -> None:
    approved = _image("VERSION#00000003", _version(VersionStatus.APPROVED))
    changed = _image("VERSION#00000003", _version(status))
    assert [k for k, _ in _events(_record(approved, changed))] == [kind]


def test_a_version_rewritten_with_the_same_status_is_no_event() -> None:
    approved = _image("VERSION#00000003", _version(VersionStatus.APPROVED))
    assert _events(_record(approved, approved)) == []


def test_an_alias_moved_created_or_removed_is_an_event_and_a_weight_change_is_not() -> None:
    v1, v2 = _image("ALIAS#champion", _alias(1)), _image("ALIAS#champion", _alias(2))
    [(kind, moved)] = _events(_record(v1, v2))
    assert kind == "AliasMoved"
    assert (moved["alias"], moved["version"], moved["previous_version"]) == ("champion", 2, 1)
    assert _events(_record(None, v1))[0][1]["previous_version"] is None
    assert _events(_record(v2, None))[0][1]["version"] is None
    canary, wider = (
        _image("ALIAS#challenger", _alias(2, 0.1, "challenger")),
        _image("ALIAS#challenger", _alias(2, 0.5, "challenger")),
    )
    assert _events(_record(canary, wider)) == []


def test_other_items_are_no_events() -> None:
    spec = _image("SPEC", "{}")
    audit = _image("AUDIT#2026#x", "{}")
    view = {"pk": {"S": "VIEW#card-activity"}, "sk": {"S": "VIEW"}, "doc": {"S": "{}"}}
    assert _events(_record(None, spec), _record(None, audit), _record(None, view)) == []


class Bus:
    def __init__(self, fail: int = 0) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail = fail

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        failed = [{"ErrorCode": "InternalFailure"}] * self.fail
        return {"FailedEntryCount": self.fail, "Entries": failed + [{"EventId": "x"}] * (len(Entries) - self.fail)}


def test_events_are_put_ten_at_a_time_on_the_bus() -> None:
    bus = Bus()
    entries = [{"Source": SOURCE, "DetailType": "AliasMoved", "Detail": "{}"}] * 23
    assert publish_events(entries, bus, "default") == 23  # type: ignore[arg-type]
    assert [len(call) for call in bus.calls] == [10, 10, 3]
    assert {entry["EventBusName"] for call in bus.calls for entry in call} == {"default"}


def test_an_event_the_bus_refuses_fails_the_batch_for_a_retry() -> None:
    entries = [{"Source": SOURCE, "DetailType": "AliasMoved", "Detail": "{}"}] * 3
    with pytest.raises(TransientError, match="refused 1 registry events"):
        publish_events(entries, Bus(fail=1), "default")  # type: ignore[arg-type]
