"""InferenceApi: the predict and govern functions behind an authenticated, throttled, logged REST API.

Routes come from the catalog: the clients' (API key, or IAM with `mlops:apiAuth=iam`) and governance's
(always IAM, with a managed policy per duty, for every model and for each of `mlops:governedModels`).
"""

from __future__ import annotations

import json
import re

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import ApiAuth
from infra.constructs.json_schema import to_cdk
from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.log_groups import log_group
from infra.constructs.nag import acknowledge, acknowledge_matching, checkov_skip
from mlcore.catalog import (
    FEEDBACK_ROUTE,
    GATEWAY_RESPONSES,
    GOVERN,
    GOVERNANCE_POLICIES,
    IAM_AUTH,
    PREDICT,
    REQUEST_ID_HEADER,
    ROUTES,
    Route,
    gateway_body,
    limits,
)
from mlcore.serving import gateway_schema

STAGE_NAME = "v1"


def policy_path(route: Route, model: str | None) -> str:
    """The route's path in an execute-api ARN: `{name}` is the model (or any), other parameters any value."""
    path = route.path.replace("{name}", model or "*")
    return re.sub(r"\{[A-Za-z0-9_]+\}", "*", path)


class InferenceApi(Construct):
    """Every route of `mlcore.catalog.ROUTES`, proxied to the function the catalog names."""

    predict_function: lambda_.Function
    govern_function: lambda_.Function
    policies: dict[str, iam.ManagedPolicy]  # by name: `ModelApprover`, `ModelApprover-churn`, ...
    api: apigw.RestApi
    usage_plan: apigw.UsagePlan
    api_key: apigw.IApiKey | None
    access_logs: logs.LogGroup

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        auth: ApiAuth,
        prefix: str,
        governed_models: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.predict_function = factory.create(self, PREDICT)
        self.govern_function = factory.create(self, GOVERN)

        self.access_logs = log_group(self, "AccessLogs", factory.resources.key)
        method_options = (
            apigw.MethodOptions(api_key_required=True)
            if auth == "api_key"
            else apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM)
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{prefix}-inference",
            description="Predictions from the champion version of each registered model",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            default_method_options=method_options,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                throttling_rate_limit=limits.API_RATE_LIMIT,
                throttling_burst_limit=limits.API_BURST_LIMIT,
                method_options={
                    "/*/*": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=limits.API_RATE_LIMIT, throttling_burst_limit=limits.API_BURST_LIMIT
                    ),
                    # feedback's own, lower throttle: a flood of labels never crowds out predictions
                    f"{FEEDBACK_ROUTE.path}/{FEEDBACK_ROUTE.method}": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=limits.FEEDBACK_RATE_LIMIT,
                        throttling_burst_limit=limits.FEEDBACK_BURST_LIMIT,
                    ),
                },
            ),
        )
        checkov_skip(
            self.api.deployment_stage,
            {
                "CKV_AWS_120": "No response cache: every prediction is scored and captured (drift, feedback), and a "
                "cached answer would serve one caller's result to another",
            },
        )
        # The stack's `ApiUrl` output (catalog.OUTPUTS) names the URL; RestApi's own `Endpoint` output repeats it.
        self.api.node.try_remove_child("Endpoint")
        self._routes()
        self._gateway_responses()
        self.policies = self._policies(prefix, governed_models)

        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan",
            name=f"{prefix}-inference",
            throttle=apigw.ThrottleSettings(rate_limit=limits.API_RATE_LIMIT, burst_limit=limits.API_BURST_LIMIT),
            quota=apigw.QuotaSettings(limit=limits.API_MONTHLY_QUOTA, period=apigw.Period.MONTH),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
        )
        self.api_key = None
        if auth == "api_key":
            self.api_key = self.api.add_api_key("DefaultKey", description=f"{prefix}: default client key")
            self.usage_plan.add_api_key(self.api_key)
        auth_reason = (
            "Clients authenticate with an API key tied to a usage plan (throttle and quota) by default; "
            "IAM (SigV4) authorization is the alternative (mlops:apiAuth=iam); no Cognito user pool: "
            "callers are applications, not end users"
        )
        acknowledge(
            self.api,
            {
                "AwsSolutions-APIG4": auth_reason,
                "AwsSolutions-COG4": auth_reason,
                "AwsSolutions-APIG3": "WAF is an account-level choice (a shared web ACL); the stage is throttled per "
                "method and per key, and request bodies are schema-validated",
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]": "The account-level role API Gateway needs to write access "
                "logs; AWS maintains this managed policy for exactly that purpose",
            },
        )

    def _routes(self) -> None:
        """A resource per path segment and a method per catalog route, with the route's body model."""
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        integrations = {
            PREDICT: apigw.LambdaIntegration(self.predict_function, proxy=True),
            GOVERN: apigw.LambdaIntegration(self.govern_function, proxy=True),
        }
        models: dict[type, apigw.Model] = {}  # one model per body, however many routes take it
        for route in ROUTES:
            resource = self.api.root.resource_for_path(route.path)
            if route.request is not None and route.request not in models:
                models[route.request] = self.api.add_model(
                    route.request.__name__,
                    content_type="application/json",
                    schema=to_cdk(gateway_schema(route.request)),
                )
            # Governance is IAM whatever the clients use: the actor is the principal API Gateway authenticated.
            iam_only = {"authorization_type": apigw.AuthorizationType.IAM, "api_key_required": False}
            resource.add_method(
                route.method,
                integrations[route.function],
                request_validator=validator,
                request_parameters={f"method.request.path.{name}": True for name in route.parameters},
                request_models={"application/json": models[route.request]} if route.request else None,
                **(iam_only if route.auth == IAM_AUTH else {}),  # type: ignore[arg-type]
            )

    def _policies(self, prefix: str, models: tuple[str, ...]) -> dict[str, iam.ManagedPolicy]:
        """A managed policy per duty (catalog.GOVERNANCE_POLICIES) for every model, and one per governed model."""
        policies: dict[str, iam.ManagedPolicy] = {}
        for duty, routes in GOVERNANCE_POLICIES.items():
            for model in (None, *models):
                name = f"{duty}-{model}" if model else duty
                policies[name] = iam.ManagedPolicy(
                    self,
                    "".join(part[:1].upper() + part[1:] for part in name.split("-")) + "Policy",
                    managed_policy_name=f"{prefix}-{name}"[:128],
                    description=f"{prefix}: {duty} of " + (f"model {model}" if model else "every model"),
                    statements=[
                        iam.PolicyStatement(
                            actions=["execute-api:Invoke"],
                            resources=[
                                self.api.arn_for_execute_api(route.method, policy_path(route, model), STAGE_NAME)
                                for route in routes
                            ],
                        )
                    ],
                )
                acknowledge_matching(
                    policies[name],
                    {
                        r"AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
                        r"<\w+>/v1/[A-Z]+/models/[^\]]*\]": "Invoke on this API's governance routes only: a wildcard "
                        "stands for a path parameter (the model, for the policy of every model; a version or alias)"
                    },
                )
        return policies

    def _gateway_responses(self) -> None:
        """What API Gateway answers on its own carries the API's error envelope and the request id."""
        for response in GATEWAY_RESPONSES:
            self.api.add_gateway_response(
                "".join(part.capitalize() for part in response.type.split("_")),
                type=apigw.ResponseType.of(response.type),
                status_code=str(response.status),
                response_headers={REQUEST_ID_HEADER: "context.requestId", "Content-Type": "'application/json'"},
                templates={"application/json": json.dumps(gateway_body(response, "$context.requestId"))},
            )
