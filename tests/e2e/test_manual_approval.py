"""`approval: manual` on the local target: the training pipeline waits on a task token for a person's decision."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Cli, parquet, register_copy

from infra.local.demo import DemoResult
from infra.local.example_data import churn_table
from infra.local.target import LocalTarget
from infra.operations import Platform
from mlcore.registry import APPROVAL_TIMEOUT, VersionStatus

pytestmark = pytest.mark.e2e


def alerts(target: LocalTarget, platform: Platform, name: str) -> Callable[[], list[dict[str, str]]]:
    """A queue subscribed to the alerts topic; the returned function reads what was published since."""
    sqs = platform.client("sqs")
    queue = sqs.create_queue(QueueName=f"approvals-{name}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    (topic,) = target.deployment.topics.values()
    platform.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

    def read() -> list[dict[str, str]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return read


def waiting(platform: Platform, arn: str, model: str, timeout: float = 120) -> None:
    """Until the execution waits at AwaitingApproval: request_approval kept the token and returned (the task is
    submitted). A decision arriving while that step still runs would share the local target's one process
    environment with it; on AWS they are separate containers."""
    deadline = time.monotonic() + timeout
    while True:
        execution = platform.sfn.describe_execution(executionArn=arn)
        assert execution["status"] == "RUNNING", platform.failure(execution)
        events = platform.history(arn)
        entered = [e.get("stateEnteredEventDetails", {}).get("name") for e in events]
        if "AwaitingApproval" in entered and events[-1]["type"] == "TaskSubmitted":
            assert platform.registry.approval_token(model, 1) is not None
            return
        assert time.monotonic() < deadline, f"{arn} never waited for approval"
        time.sleep(0.3)


def manual_run(platform: Platform, tmp_path: Path, name: str, **spec: Any) -> str:
    register_copy(platform, tmp_path, name, approval="manual", **spec)
    platform.upload_dataset(name, parquet(churn_table(1200, seed=61)), "parquet")
    return platform.start_pipeline(name, reason="manual approval", force=True)


def test_the_pipeline_waits_for_an_approval_then_promotes(
    demo: DemoResult, target: LocalTarget, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    published = alerts(target, platform, "approve")
    arn = manual_run(platform, tmp_path, "churn-wait")
    waiting(platform, arn, "churn-wait")
    # the version is pending, nothing serves yet, and a person was asked, with the commands to answer
    assert platform.registry.get_version("churn-wait", 1).status is VersionStatus.PENDING
    assert platform.registry.get_alias("churn-wait") is None
    [asked] = [m for m in published() if m["Subject"] == "churn-wait v1 awaits approval"]
    assert "passed the evaluation gate and waits for a decision" in asked["Message"]
    assert "Metrics on the holdout: " in asked["Message"] and "(no champion yet)" in asked["Message"]
    assert "mlops models approve churn-wait 1 --reason" in asked["Message"]
    assert "mlops models reject churn-wait 1 --reason" in asked["Message"]
    # WHEN a person approves
    code, out, err = cli("models", "approve", "churn-wait", "1", "--reason", "reviewed the card")
    assert (code, out.strip()) == (0, "churn-wait v1 is approved; its pipeline promotes it now"), err
    # THEN the pipeline goes on and promotes it
    execution = platform.wait(arn)
    assert execution["status"] == "SUCCEEDED", platform.failure(execution)
    assert platform.registry.get_alias("churn-wait").version == 1  # type: ignore[union-attr]
    [record] = platform.registry.list_runs("churn-wait")
    assert record.version == 1 and record.outcome.startswith("registered")


def test_pipeline_run_stops_at_the_approval_and_says_what_to_run(
    demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    register_copy(platform, tmp_path, "churn-ask", approval="manual")
    platform.upload_dataset("churn-ask", parquet(churn_table(1200, seed=61)), "parquet")
    # WHEN the CLI runs the pipeline of a model whose versions a person approves
    code, out, err = cli("pipeline", "run", "churn-ask", "--force")
    # THEN it returns once the version waits, naming it and the command that decides, and lists no choice states
    assert code == 0, err
    assert "Version 1 of 'churn-ask' awaits approval (approval: manual)" in out
    assert "mlops models approve churn-ask 1" in out and "mlops models reject churn-ask 1" in out
    assert "AutoApproved" not in out and "→ AwaitingApproval" in out
    # AND the command it names works at once: the pipeline goes on and promotes the version
    code, _, err = cli("models", "approve", "churn-ask", "1", "--reason", "reviewed")
    assert code == 0, err
    arn = out.split()[1]  # "Started <execution arn>"
    assert platform.wait(arn)["status"] == "SUCCEEDED"
    assert platform.registry.get_alias("churn-ask").version == 1  # type: ignore[union-attr]


def test_a_rejection_ends_the_waiting_pipeline_without_promoting(
    demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    arn = manual_run(platform, tmp_path, "churn-wait-no")
    waiting(platform, arn, "churn-wait-no")
    code, out, err = cli("models", "reject", "churn-wait-no", "1", "--reason", "label leak")
    assert (code, out.strip()) == (0, "churn-wait-no v1 is rejected; its pipeline ends without promoting it"), err
    execution = platform.wait(arn)
    assert execution["status"] == "SUCCEEDED", platform.failure(execution)
    assert platform.registry.get_alias("churn-wait-no") is None
    states = [e["stateEnteredEventDetails"]["name"] for e in platform.history(arn) if "stateEnteredEventDetails" in e]
    assert "NotApproved" in states and "Promote" not in states
    # AND the run's line says what became of its version (the run itself registered it)
    code, out, err = cli("runs", "list", "churn-wait-no", "--output", "json")
    assert code == 0, err
    [line] = json.loads(out)
    assert line["since"].startswith("rejected by ") and line["since"].endswith(": label leak")
    code, out, _ = cli("runs", "show", line["run_id"])
    assert f"{line['outcome']}, then rejected by " in out.splitlines()[0]


def test_without_a_decision_in_time_the_version_is_rejected(
    demo: DemoResult, target: LocalTarget, platform: Platform, tmp_path: Path
) -> None:
    published = alerts(target, platform, "timeout")
    arn = manual_run(platform, tmp_path, "churn-wait-late", approval_timeout_hours=0.001)  # 3.6 s
    execution = platform.wait(arn)
    assert execution["status"] == "SUCCEEDED", platform.failure(execution)
    version = platform.registry.get_version("churn-wait-late", 1)
    assert version.status is VersionStatus.REJECTED
    [change] = [r for r in platform.registry.audit_trail("churn-wait-late") if r.action == "status_changed"]
    assert (change.actor, change.details["reason"]) == (APPROVAL_TIMEOUT, "no decision within 0.001 h")
    assert platform.registry.get_alias("churn-wait-late") is None
    subjects = [m["Subject"] for m in published()]
    assert "churn-wait-late v1 rejected: no decision in time" in subjects
