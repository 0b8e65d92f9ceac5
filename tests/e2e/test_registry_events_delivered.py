"""Registry events on the local target: the registry table's stream, the template's event source, EventBridge."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import parquet, register_copy

from infra.local import hooks
from infra.local.example_data import churn_table
from infra.operations import Platform
from mlcore.registry import VersionStatus

pytestmark = pytest.mark.e2e


def _received(platform: Platform, queue: str, model: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The registry events for `model` on the queue, waited for until `count` arrived."""
    sqs, received = platform.client("sqs"), []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"]["model"] == model:
                received.append(event)
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        time.sleep(0.2)
    return received


def test_a_trained_and_recalled_version_reaches_an_eventbridge_rule(platform: Platform, tmp_path: Path) -> None:
    # GIVEN an integration's rule on the registry's events (source mlops.registry) into its queue
    sqs, events = platform.client("sqs"), platform.client("events")
    queue = sqs.create_queue(QueueName="integration")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="integration", EventPattern=json.dumps({"source": ["mlops.registry"]}))
    events.put_targets(Rule="integration", Targets=[{"Id": "queue", "Arn": arn}])
    batches_before = hooks.CALLS["stream_batch"]
    # WHEN a model's first version is trained (auto approval: registered, approved, promoted), then recalled
    register_copy(platform, tmp_path, "churn-events")
    platform.upload_dataset("churn-events", parquet(churn_table(1200, seed=41)), "parquet")
    run = platform.wait(platform.start_pipeline("churn-events", reason="events"))
    assert run["status"] == "SUCCEEDED", run.get("cause")
    platform.set_status("churn-events", 1, VersionStatus.REJECTED, "leak")
    # THEN the rule received each change, from the table's stream through the template's event source
    received = _received(platform, queue, "churn-events", count=5)
    kinds = [(event["detail-type"], event["detail"]["version"]) for event in received]
    assert kinds == [("VersionRegistered", 1), ("VersionApproved", 1), ("AliasMoved", 1), ("VersionRejected", 1),
                     ("AliasMoved", None)]  # fmt: skip
    assert hooks.CALLS["stream_batch"] > batches_before
