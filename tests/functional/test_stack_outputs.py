"""How the CLI finds a deployment on AWS: the outputs of its own stacks, by prefix, never another stack's."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from infra.operations import DeploymentNotFoundError, Resources, _stack_outputs
from mlcore.catalog import OUTPUTS


def stack(name: str, outputs: dict[str, str]) -> None:
    template: dict[str, Any] = {
        "Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )


def deployment(prefix: str) -> dict[str, str]:
    """Every required output of a deployment, named after its prefix."""
    return {o.key: f"{prefix}-{o.key}" for o in OUTPUTS if o.required}


@pytest.fixture
def two_deployments_and_another_app(aws: None) -> None:
    required = deployment("mlops")
    stack("MlopsData", {k: v for k, v in required.items() if not k.endswith("StateMachineArn")})
    stack("MlopsTraining", {k: v for k, v in required.items() if k.endswith("StateMachineArn")})
    stack("TeamxMlopsData", deployment("teamx"))
    stack("SomeOtherAppStack", {"ApiUrl": "https://other-team.example/api", "DataBucket": "not-ours"})


def test_the_cli_reads_its_own_deployments_outputs_only(
    two_deployments_and_another_app: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_PREFIX", raising=False)
    found = _stack_outputs()
    assert set(found.values()) == set(deployment("mlops").values())  # none of teamx's, nor the other app's ApiUrl
    assert "api_url" not in found
    monkeypatch.setenv("MLOPS_PREFIX", "teamx")  # the other deployment, by its mlops:prefix
    assert _stack_outputs() == {o.resource: f"teamx-{o.key}" for o in OUTPUTS if o.required}


def test_a_prefix_with_no_deployment_says_what_is_missing(
    two_deployments_and_another_app: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_PREFIX", "nobody")
    for name in [o.resource for o in OUTPUTS]:
        monkeypatch.delenv(f"MLOPS_{name.upper()}", raising=False)
    with pytest.raises(DeploymentNotFoundError, match="cannot find"):
        Resources.discover()
