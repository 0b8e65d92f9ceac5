"""The audit trail on the local target: changes reach the Object Lock bucket through the audit table's stream."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from e2e_helpers import Cli, register_copy

from infra.local import hooks
from infra.operations import Platform
from mlcore.registry import ModelVersion, VersionStatus, utc_now

pytestmark = pytest.mark.e2e
DEFAULT_IDENTITY = "arn:aws:sts::123456789012:user/moto"


def test_a_decision_is_exported_under_object_lock_and_the_cli_reads_it_back(
    platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    register_copy(platform, tmp_path, "churn-audited")
    registry = platform.registry
    registry.register_version(
        ModelVersion(
            model_name="churn-audited", run_id="r1", artifacts={}, metrics={}, signature=[],
            version=registry.allocate_version("churn-audited"), status=VersionStatus.PENDING, created_at=utc_now(),
        ),
        actor="training-pipeline",
    )  # fmt: skip
    exported_before = hooks.CALLS["stream_batch"]
    code, _, err = cli("models", "reject", "churn-audited", "1", "--reason", "leak")
    assert code == 0, err
    out = tmp_path / "trail.jsonl"
    deadline = time.monotonic() + 30
    while True:  # the stream reaches the export function a moment after the write
        code, said, err = cli("audit", "export", "churn-audited", "--out", str(out))
        if code == 0 and "still on their way" not in said:
            break
        assert time.monotonic() < deadline, (said, err)
        time.sleep(0.5)
    assert hooks.CALLS["stream_batch"] > exported_before
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["spec_registered", "version_registered", "status_changed"]
    assert (lines[-1]["actor"], lines[-1]["details"]["reason"]) == (DEFAULT_IDENTITY, "leak")
    assert said.startswith("Exported 3 audit records of model 'churn-audited' from s3://")
    assert said.rstrip().endswith("(the audit table holds 3)")
    # the exported objects are locked: no version of them can be deleted
    bucket = platform.resources.audit_bucket
    s3 = platform.client("s3")
    key = s3.list_objects_v2(Bucket=bucket, Prefix="audit/models/churn-audited/")["Contents"][-1]["Key"]
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    # a record taken out of the table behind the roles' backs (an admin's delete) is named by the export's check
    dynamodb = platform.client("dynamodb")
    items = dynamodb.scan(TableName=registry.audit_table)["Items"]
    [rejection] = [i for i in items if '"status_changed"' in i["doc"]["S"] and "churn-audited" in i["pk"]["S"]]
    dynamodb.delete_item(TableName=registry.audit_table, Key={"pk": rejection["pk"], "sk": rejection["sk"]})
    code, said, err = cli("audit", "export", "churn-audited", "--out", str(out))
    assert code == 1 and said.rstrip().endswith("(the audit table holds 2)")
    assert err.startswith("1 exported record(s) no longer in the audit table:\n  ")
    assert f" status_changed by {DEFAULT_IDENTITY}: " in err and "'reason': 'leak'" in err


def test_an_unknown_model_has_no_export(cli: Cli) -> None:
    code, _, err = cli("audit", "export", "no-such-model")
    assert code == 1 and "no-such-model" in err
