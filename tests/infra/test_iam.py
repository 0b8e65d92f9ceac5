"""IAM across all stacks: no `Action: *`, and `Resource: *` only for actions that allow nothing else."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from mlcore.catalog import BATCH_OUTPUT_PATTERNS, MODEL_OBJECTS

if TYPE_CHECKING:
    from conftest import Synthesized

# Actions without resource-level permissions (X-Ray, vended-log delivery, ECR login, Batch's describe).
RESOURCE_STAR_ACTIONS = {
    "dynamodb:ListStreams",  # the stream event source: ListStreams has no resource-level permission
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "ecr:GetAuthorizationToken",
    "batch:DescribeJobDefinitions",  # validate, finding a model's image job definition
    "ecs:DiscoverPollEndpoint",  # the GPU queue's instances (mlops:gpuJobs)
}


@pytest.fixture(params=["synthesized", "synthesized_options"])
def app(request: pytest.FixtureRequest) -> Synthesized:
    """The app by default, and with its options on."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _statements(synthesized: Synthesized) -> list[dict]:
    statements = []
    for _, (_, policy) in synthesized.resources("AWS::IAM::Policy").items():
        statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def test_no_action_star(app: Synthesized) -> None:
    for statement in _statements(app):
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert "*" not in actions
        assert not [a for a in actions if a.endswith(":*")], actions


def test_resource_star_only_for_actions_without_resource_level_permissions(app: Synthesized) -> None:
    for statement in _statements(app):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "*" in resources:
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            assert set(actions) <= RESOURCE_STAR_ACTIONS, actions


def test_no_aws_managed_policies_on_function_roles(app: Synthesized) -> None:
    for logical_id, (_, role) in app.resources("AWS::IAM::Role").items():
        if "Function" in logical_id or ("Role" in logical_id and "CloudWatchRole" not in logical_id):
            assert "ManagedPolicyArns" not in role["Properties"], logical_id


def test_no_role_may_delete_a_version_and_only_the_publish_step_a_batchs_outputs(app: Synthesized) -> None:
    # the buckets are versioned: a step that could delete versions could erase what it overwrote; DeleteObject puts
    # a delete marker (the version stays), which the publish step alone may, on batches' outputs of the data bucket
    # (a failed batch withdraws its chunks' files)
    markers = []
    for logical, (_, policy) in app.resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            deletes = [a for a in actions if a.startswith("s3:Delete")]
            assert deletes in ([], ["s3:DeleteObject"]), (logical, actions)
            if deletes:
                markers.append((logical, statement["Resource"]))
    [(logical, resources)] = markers
    assert logical.startswith("BatchScoringPublishBatchRole")
    assert [r["Fn::Join"][1][-1] for r in resources] == [f"/{pattern}" for pattern in BATCH_OUTPUT_PATTERNS]
    assert all("DataPlaneData" in json.dumps(r) for r in resources)


def test_serving_reads_the_models_and_no_dataset(synthesized: Synthesized) -> None:
    statements = [
        s for _, (stack, policy) in synthesized.resources("AWS::IAM::Policy").items()
        if stack == "MlopsServing" and "PredictRole" in json.dumps(policy["Properties"]["Roles"])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]  # fmt: skip
    reads = [s for s in statements if "s3:GetObject*" in s["Action"]]
    artifacts = [s for s in reads if "Artifacts" in json.dumps(s["Resource"])]
    assert len(artifacts) == 1
    objects = [r for r in artifacts[0]["Resource"] if "Fn::Join" in r]
    assert [r["Fn::Join"][1][-1] for r in objects] == [f"/{MODEL_OBJECTS}"]


def test_serving_reads_the_online_feature_store_and_never_writes_it(synthesized: Synthesized) -> None:
    statements = [
        s for _, (stack, policy) in synthesized.resources("AWS::IAM::Policy").items()
        if stack == "MlopsServing" and "PredictRole" in json.dumps(policy["Properties"]["Roles"])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]  # fmt: skip
    online = [s for s in statements if "OnlineFeatures" in json.dumps(s["Resource"])]
    actions = {action for s in online for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "dynamodb:BatchGetItem" in actions
    assert not {a for a in actions if a.split(":")[1].startswith(("Put", "Update", "Delete", "BatchWrite"))}
