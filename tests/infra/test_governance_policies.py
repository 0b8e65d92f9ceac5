"""Governance through IAM: managed policies per duty, scoped by route and model; a govern role of least privilege."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from conftest import GOVERNED_MODEL

from mlcore.catalog import GOVERNANCE_POLICIES, OUTPUTS

if TYPE_CHECKING:
    from conftest import Synthesized


def _policies(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """`{ManagedPolicyName without the prefix: properties}`."""
    return {
        r["Properties"]["ManagedPolicyName"].removeprefix("mlops-"): r["Properties"]
        for _, r in synthesized.resources("AWS::IAM::ManagedPolicy").values()
    }


def _invokes(policy: dict[str, Any]) -> list[str]:
    """The `<METHOD>/<path>` each statement lets a principal invoke (after the API's stage)."""
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    paths = []
    for resource in resources:
        parts = resource["Fn::Join"][1]
        assert {"Ref": "AWS::AccountId"} in parts  # this account's API
        assert any(isinstance(p, dict) and p.get("Ref", "").startswith("InferenceApi") for p in parts)
        paths.append(parts[-1].removeprefix("/v1/"))
    return sorted(paths)


def test_each_duty_is_a_managed_policy_that_invokes_only_its_routes(synthesized: Synthesized) -> None:
    policies = _policies(synthesized)
    assert sorted(policies) == sorted(GOVERNANCE_POLICIES)  # for every model; none per model by default
    assert _invokes(policies["ModelApprover"]) == [
        "POST/models/*/spec/approve",
        "POST/models/*/versions/*/approve",
        "POST/models/*/versions/*/archive",
        "POST/models/*/versions/*/reject",
    ]
    assert _invokes(policies["ModelDeveloper"]) == ["POST/models/*/runs", "PUT/models/*/spec"]
    assert _invokes(policies["ModelPromoter"]) == [
        "DELETE/models/*/aliases/*",
        "POST/models/*/aliases/*/rollback",
        "PUT/models/*/aliases/*",
    ]
    assert _invokes(policies["ModelReader"]) == ["GET/models/*", "GET/models/*/audit", "GET/models/*/openapi.json"]


def test_a_governed_model_gets_policies_that_name_it_in_every_path(synthesized_options: Synthesized) -> None:
    policies = _policies(synthesized_options)
    assert sorted(policies) == sorted([*GOVERNANCE_POLICIES, *(f"{p}-{GOVERNED_MODEL}" for p in GOVERNANCE_POLICIES)])
    approver = _invokes(policies[f"ModelApprover-{GOVERNED_MODEL}"])
    assert approver == [
        f"POST/models/{GOVERNED_MODEL}/spec/approve",
        *(f"POST/models/{GOVERNED_MODEL}/versions/*/{action}" for action in ("approve", "archive", "reject")),
    ]
    for duty in GOVERNANCE_POLICIES:
        assert all(f"/models/{GOVERNED_MODEL}" in path for path in _invokes(policies[f"{duty}-{GOVERNED_MODEL}"]))


def test_the_serving_stack_outputs_each_policy_for_every_model(synthesized: Synthesized) -> None:
    outputs = synthesized.raw("MlopsServing")["Outputs"]
    keys = [o.key for o in OUTPUTS if o.key.removesuffix("PolicyArn") in GOVERNANCE_POLICIES]
    assert len(keys) == len(GOVERNANCE_POLICIES)
    for key in keys:
        assert outputs[key]["Value"]["Ref"].startswith("Inference" + key.removesuffix("PolicyArn"))


def test_the_govern_function_writes_the_registry_publishes_alerts_and_starts_and_answers_training_runs_only(
    synthesized: Synthesized,
) -> None:
    statements: list[dict[str, Any]] = []
    for _, (stack, policy) in synthesized.resources("AWS::IAM::Policy").items():
        if stack == "MlopsServing" and "InferenceGovernRole" in json.dumps(policy["Properties"]["Roles"]):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "sns:Publish" in actions
    assert "dynamodb:TransactWriteItems" in actions or "dynamodb:PutItem" in actions
    # it starts training runs (recording their starter; none while one of the model is in flight), reads who started
    # one, and tells a pipeline waiting for a decision (approval: manual) through its task token: nothing more
    assert {a for a in actions if a.startswith("states:")} == {
        "states:StartExecution",
        "states:ListExecutions",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
    }
    states = json.dumps([s["Resource"] for s in statements if "states:" in json.dumps(s["Action"])])
    assert "mlops-training" in states and "Batch" not in states  # the training pipeline's, no other machine's
    assert not [a for a in actions if a.startswith(("s3:", "batch:", "iam:", "events:"))], actions
    text = json.dumps(statements)
    assert "DataPlaneData" not in text and "DataPlaneArtifacts" not in text and "Capture" not in text
