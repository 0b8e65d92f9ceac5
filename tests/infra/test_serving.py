"""ServingStack: authenticated, validated, throttled, logged and traced API; least-privilege predict."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_cdk.assertions import Match

from mlcore.catalog import CLIENT_ROUTES, GATEWAY_RESPONSES, GOVERNANCE_ROUTES, ROUTES, gateway_body

if TYPE_CHECKING:
    from conftest import Synthesized


def _methods(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [r["Properties"] for _, r in synthesized.resources("AWS::ApiGateway::Method").values()]


def test_client_routes_need_an_api_key_and_governance_routes_iam_and_every_route_is_validated(
    synthesized: Synthesized,
) -> None:
    methods = _methods(synthesized)
    by_auth: dict[str, list[dict[str, Any]]] = {}
    for method in methods:
        by_auth.setdefault(method["AuthorizationType"], []).append(method)
        assert "RequestValidatorId" in method
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert "method.request.path.name" in method["RequestParameters"]
    assert sorted(by_auth) == ["AWS_IAM", "NONE"]
    # the clients' routes: an API key (mlops:apiAuth defaults to api_key), answered by predict
    assert len(by_auth["NONE"]) == len(CLIENT_ROUTES)
    for method in by_auth["NONE"]:
        assert method["ApiKeyRequired"] is True
        assert "InferencePredictFunction" in json.dumps(method["Integration"]["Uri"])
    # governance: always IAM (SigV4), never a key alone, answered by govern
    assert len(by_auth["AWS_IAM"]) == len(GOVERNANCE_ROUTES)
    for method in by_auth["AWS_IAM"]:
        assert method["ApiKeyRequired"] is False
        assert "InferenceGovernFunction" in json.dumps(method["Integration"]["Uri"])
    bodies = sum(1 for route in ROUTES if route.request is not None)
    assert sum(1 for method in methods if "RequestModels" in method) == bodies


def test_predict_body_needs_instances_or_dataframe_split_not_both(synthesized: Synthesized) -> None:
    models = {
        r["Properties"]["Schema"]["title"]: r["Properties"]["Schema"]
        for _, r in synthesized.resources("AWS::ApiGateway::Model").values()
    }
    predict, feedback = models["PredictRequest"], models["FeedbackRequest"]
    assert predict["oneOf"] == [{"required": ["instances"]}, {"required": ["dataframe_split"]}]
    assert predict["properties"]["instances"]["anyOf"][0]["minItems"] == 1
    assert [option["required"] for option in feedback["anyOf"]] == [["request_id", "label"], ["feedback"]]
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


def test_every_answer_api_gateway_gives_on_its_own_is_in_the_error_envelope(synthesized: Synthesized) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for _, r in synthesized.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {response.type for response in GATEWAY_RESPONSES}
    for response in GATEWAY_RESPONSES:
        props = responses[response.type]
        assert props["StatusCode"] == str(response.status)
        assert props["ResponseParameters"]["gatewayresponse.header.X-Request-Id"] == "context.requestId"
        template = props["ResponseTemplates"]["application/json"]
        assert json.loads(template.replace("$context.requestId", "id-1")) == gateway_body(response, "id-1")


def test_feedback_has_its_own_lower_throttle(synthesized: Synthesized) -> None:
    from mlcore.catalog import limits

    [stage] = [r["Properties"] for _, r in synthesized.resources("AWS::ApiGateway::Stage").values()]
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in stage["MethodSettings"]}
    feedback = settings[("/~1models~1{name}~1feedback", "POST")]
    assert (feedback["ThrottlingRateLimit"], feedback["ThrottlingBurstLimit"]) == (
        limits.FEEDBACK_RATE_LIMIT,
        limits.FEEDBACK_BURST_LIMIT,
    )
    assert settings[("/*", "*")]["ThrottlingRateLimit"] == limits.API_RATE_LIMIT > limits.FEEDBACK_RATE_LIMIT
