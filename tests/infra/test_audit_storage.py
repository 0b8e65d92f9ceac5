"""The audit trail's storage: an append-only table no role may update or delete in, exported under Object Lock."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlcore.catalog import AUDIT_TABLE_SUFFIX, EXPORT_AUDIT

if TYPE_CHECKING:
    from conftest import Synthesized

AUDIT_TABLE, AUDIT_BUCKET = "DataPlaneAudit6CB06FA0", "DataPlaneAuditExportF74B220A"


def _only(synthesized: Synthesized, kind: str, logical_prefix: str) -> dict[str, Any]:
    [found] = [r["Properties"] for logical, (_, r) in synthesized.resources(kind).items() if logical == logical_prefix]
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def _statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [
        statement
        for _, (_, policy) in synthesized.resources("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_audit_table_is_named_after_the_registry_streamed_recoverable_and_protected(
    synthesized: Synthesized,
) -> None:
    table = _only(synthesized, "AWS::DynamoDB::Table", AUDIT_TABLE)
    [registry] = [logical for logical in synthesized.resources("AWS::DynamoDB::Table") if "Registry" in logical]
    assert table["TableName"] == {"Fn::Join": ["", [{"Ref": registry}, AUDIT_TABLE_SUFFIX]]}
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["DeletionProtectionEnabled"] is True
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_no_role_may_update_or_delete_an_audit_record_and_the_registry_s_writers_append(
    synthesized: Synthesized,
) -> None:
    appenders = 0
    for statement in _statements(synthesized):
        if AUDIT_TABLE not in json.dumps(statement["Resource"]):
            continue
        actions = _actions(statement)
        assert not [a for a in actions if a.split(":")[1].startswith(("Update", "Delete", "BatchWrite"))], actions
        appenders += "dynamodb:PutItem" in actions
    assert appenders >= 5  # register, promote, govern, request_approval, ... : every writer of the registry


def test_the_export_is_object_locked_by_default_in_governance_mode_for_a_year(synthesized: Synthesized) -> None:
    bucket = _only(synthesized, "AWS::S3::Bucket", AUDIT_BUCKET)
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 365}},
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}


def test_the_context_sets_the_lock_s_mode_and_retention(synthesized_options: Synthesized) -> None:
    bucket = _only(synthesized_options, "AWS::S3::Bucket", AUDIT_BUCKET)
    assert bucket["ObjectLockConfiguration"]["Rule"] == {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}


def test_no_role_may_shorten_or_lift_a_lock(synthesized_options: Synthesized) -> None:
    for statement in _statements(synthesized_options):
        actions = _actions(statement)
        assert "s3:BypassGovernanceRetention" not in actions
        assert "s3:PutBucketObjectLockConfiguration" not in actions
        deletes = [a for a in actions if a.startswith("s3:Delete")]
        assert not deletes or "AuditExport" not in json.dumps(statement["Resource"]), statement  # only the data bucket


def test_the_export_function_reads_the_audit_stream_with_a_dead_letter_queue(synthesized: Synthesized) -> None:
    [mapping] = [
        r["Properties"]
        for _, (_, r) in synthesized.resources("AWS::Lambda::EventSourceMapping").items()
        if AUDIT_TABLE in json.dumps(r["Properties"]["EventSourceArn"])
    ]
    construct = "".join(part.capitalize() for part in EXPORT_AUDIT.split("_"))
    assert construct in json.dumps(mapping["FunctionName"])
    assert mapping["BisectBatchOnFunctionError"] is True
    assert "Destination" in json.dumps(mapping["DestinationConfig"])
