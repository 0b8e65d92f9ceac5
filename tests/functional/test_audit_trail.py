"""The audit trail: an append-only table of its own, exported as JSON lines under Object Lock."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mlcore.catalog import TrainedModel, audit_table_name
from mlcore.registry import ModelVersion, Registry, VersionStatus, audit_exports, export_audit
from mlcore.registry import exported_records as read_exported
from mlcore.storage import ObjectStore

AUDIT_BUCKET = "mlops-audit"


@pytest.fixture
def churn_versions(
    registry: Registry, artifacts: ObjectStore, trained_churn: TrainedModel, register_model: Callable[..., ModelVersion]
) -> Registry:
    """The churn model with two versions, the first its champion, the second recalled."""
    registry.put_spec(trained_churn.spec, actor="alice")
    register_model(registry, artifacts, trained_churn, run_id="r1")
    second = register_model(registry, artifacts, trained_churn, run_id="r2", promote=False)
    registry.set_status("churn", second.version, VersionStatus.REJECTED, actor="bob", reason="leak")
    return registry


def _scan(table: str) -> list[dict[str, Any]]:
    return boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table)["Items"]


def test_every_change_is_audited_in_the_audit_table_and_none_in_the_registry(churn_versions: Registry) -> None:
    actions = [r.action for r in churn_versions.audit_trail("churn")]
    assert actions == [
        "spec_registered", "version_registered", "alias_moved", "version_registered", "status_changed",
    ]  # fmt: skip
    audited = _scan(audit_table_name(churn_versions.table))
    assert len(audited) == len(actions)
    assert all(item["sk"]["S"].startswith("AUDIT#") and "rev" not in item for item in audited)
    assert not [item for item in _scan(churn_versions.table) if item["sk"]["S"].startswith("AUDIT#")]


def test_an_audit_record_is_written_once_and_never_over(churn_versions: Registry) -> None:
    # the registry's own write of an audit record, replayed onto the record it wrote: refused by its condition
    put = churn_versions._audit_put("churn", "status_changed", "mallory", {"to": "approved"})["Put"]
    client = churn_versions.client
    client.put_item(**put)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        client.put_item(**{**put, "Item": {**put["Item"], "doc": {"S": json.dumps({"rewritten": True})}}})
    [kept] = [r for r in churn_versions.audit_trail("churn") if r.actor == "mallory"]
    assert kept.details == {"to": "approved"}


def _stream_records(registry: Registry, event: str = "INSERT") -> list[dict[str, Any]]:
    """The audit table's items as its stream carries them (moto delivers streams only to Lambda)."""
    return [
        {"eventName": event, "dynamodb": {"NewImage": item, "SequenceNumber": f"{100 + n:021d}"}}
        for n, item in enumerate(sorted(_scan(audit_table_name(registry.table)), key=lambda i: i["sk"]["S"]))
    ]


@pytest.fixture
def locked_bucket(resources: Any) -> ObjectStore:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=AUDIT_BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=AUDIT_BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 365}},
        },
    )
    return ObjectStore(AUDIT_BUCKET, s3)


def test_the_stream_is_exported_as_json_lines_per_subject_and_day_and_read_back_in_order(
    churn_versions: Registry, locked_bucket: ObjectStore
) -> None:
    records = _stream_records(churn_versions)
    assert export_audit(records, locked_bucket) == 5
    [key] = locked_bucket.list_keys("audit/models/churn/")
    first = records[0]["dynamodb"]["NewImage"]["sk"]["S"].rsplit("#", 1)[-1]
    assert key.endswith(f"/{first}.jsonl")  # named by the batch's first record
    exported = list(read_exported(locked_bucket, "models/churn"))
    trail = churn_versions.audit_trail("churn")
    assert [(e["action"], e["actor"], e["at"]) for e in exported] == [(r.action, r.actor, r.at) for r in trail]
    assert {e["event"] for e in exported} == {"INSERT"}
    # a retried batch writes the same lines again: read once
    export_audit(records, locked_bucket)
    assert len(list(read_exported(locked_bucket, "models/churn"))) == 5


def test_an_exported_version_cannot_be_deleted_while_locked(
    churn_versions: Registry, locked_bucket: ObjectStore
) -> None:
    export_audit(_stream_records(churn_versions), locked_bucket)
    [key] = locked_bucket.list_keys("audit/models/churn/")
    s3 = locked_bucket.client
    version = s3.head_object(Bucket=AUDIT_BUCKET, Key=key)["VersionId"]
    assert s3.head_object(Bucket=AUDIT_BUCKET, Key=key)["ObjectLockMode"] == "GOVERNANCE"
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=AUDIT_BUCKET, Key=key, VersionId=version)
    assert len(list(read_exported(locked_bucket, "models/churn"))) == 5


def test_a_change_to_an_audit_record_would_show_in_the_export_as_it_was() -> None:
    image = {"pk": {"S": "VIEW#card-activity"}, "sk": {"S": "AUDIT#2026-12-05T10:00:00.000+00:00#f00d"}}
    doc = {"at": "2026-12-05T10:00:00.000+00:00", "action": "view_registered", "actor": "alice", "details": {}}
    changed = {**doc, "actor": "mallory"}
    records = [
        {"eventName": event, "dynamodb": {"NewImage": {**image, "doc": {"S": json.dumps(d)}}, "SequenceNumber": n}}
        for event, d, n in (("INSERT", doc, "7"), ("MODIFY", changed, "8"))
    ]
    [(key, data)] = audit_exports(records).items()
    assert key == "audit/views/card-activity/2026/12/05/f00d.jsonl"
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert [(line["event"], line["actor"]) for line in lines] == [("INSERT", "alice"), ("MODIFY", "mallory")]
