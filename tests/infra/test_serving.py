"""ServingStack: authenticated, validated, throttled, logged and traced API; least-privilege predict."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_cdk.assertions import Match

if TYPE_CHECKING:
    from conftest import Synthesized


def _methods(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [r["Properties"] for _, r in synthesized.resources("AWS::ApiGateway::Method").values()]


def test_both_routes_require_an_api_key_and_are_validated(synthesized: Synthesized) -> None:
    methods = {m["HttpMethod"]: m for m in _methods(synthesized) if m["HttpMethod"] != "OPTIONS"}
    assert set(methods) == {"GET", "POST"}
    for method in methods.values():
        assert method["ApiKeyRequired"] is True
        assert "RequestValidatorId" in method
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert method["RequestParameters"] == {"method.request.path.name": True}
    assert "application/json" in methods["POST"]["RequestModels"]


def test_routes_are_models_name_predict_and_feedback(synthesized: Synthesized) -> None:
    parts = {r["Properties"]["PathPart"] for _, r in synthesized.resources("AWS::ApiGateway::Resource").values()}
    assert parts == {"models", "{name}", "predict", "feedback"}


def test_body_schemas_require_rows_or_feedback(synthesized: Synthesized) -> None:
    models = {
        r["Properties"]["Schema"]["title"]: r["Properties"]["Schema"]
        for _, r in synthesized.resources("AWS::ApiGateway::Model").values()
    }
    predict, feedback = models["PredictRequest"], models["FeedbackRequest"]
    assert predict["anyOf"] == [{"required": ["instances"]}, {"required": ["dataframe_split"]}]
    assert predict["properties"]["instances"] == {"type": "array", "minItems": 1}
    assert feedback["anyOf"] == [{"required": ["request_id", "label"]}, {"required": ["feedback"]}]
    synthesized.templates["MlopsServing"].has_resource_properties(
        "AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True, "ValidateRequestParameters": True}
    )


def test_usage_plan_throttles_and_has_a_quota_and_a_key(synthesized: Synthesized) -> None:
    template = synthesized.templates["MlopsServing"]
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {"Throttle": {"RateLimit": 100, "BurstLimit": 200}, "Quota": {"Limit": Match.any_value(), "Period": "MONTH"}},
    )
    template.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)


def test_stage_logs_traces_and_throttles(synthesized: Synthesized) -> None:
    synthesized.templates["MlopsServing"].has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")},
            "MethodSettings": Match.array_with(
                [Match.object_like({"MetricsEnabled": True, "ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200})]
            ),
        },
    )


def test_the_cli_finds_every_resource_in_the_stack_outputs(synthesized: Synthesized) -> None:
    """`mlops` discovers a deployment by these output keys (infra/operations.py OUTPUTS)."""
    from infra.operations import OUTPUTS

    keys = {key for stack in synthesized.stacks for key in synthesized.raw(stack).get("Outputs", {})}
    assert set(OUTPUTS.values()) <= keys


def test_predict_cannot_write_the_registry_or_touch_the_data_bucket(synthesized: Synthesized) -> None:
    statements: list[dict[str, Any]] = []
    for _, (stack, policy) in synthesized.resources("AWS::IAM::Policy").items():
        if stack == "MlopsServing" and "InferencePredictRole" in json.dumps(policy["Properties"]["Roles"]):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert statements
    text = json.dumps(statements)
    assert "DataPlaneData" not in text
    for statement in statements:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        if "DataPlaneRegistry" in json.dumps(statement["Resource"]):
            assert not [a for a in actions if a.split(":")[1].startswith(("Put", "Update", "Delete", "BatchWrite"))]
        if "DataPlaneArtifacts" in json.dumps(statement["Resource"]):
            assert not [a for a in actions if a.startswith(("s3:Put", "s3:Delete"))]
