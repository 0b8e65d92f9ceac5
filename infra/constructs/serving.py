"""InferenceApi: the predict function behind an authenticated, throttled, logged REST API."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import ApiAuth
from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.nag import acknowledge
from mlcore.catalog import PredictSettings, tunable_defaults

RATE_LIMIT = 100
BURST_LIMIT = 200
MONTHLY_QUOTA = 10_000_000
STAGE_NAME = "v1"
# API Gateway rejects what is malformed at the door; the function checks the rest against the model.
PREDICT_BODY_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="PredictRequest",
    type=apigw.JsonSchemaType.OBJECT,
    properties={
        "instances": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY, min_items=1),
        "dataframe_split": apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT, required=["columns", "data"]),
    },
    any_of=[apigw.JsonSchema(required=["instances"]), apigw.JsonSchema(required=["dataframe_split"])],
)
FEEDBACK_BODY_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="FeedbackRequest",
    type=apigw.JsonSchemaType.OBJECT,
    properties={"feedback": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY, min_items=1, max_items=1000)},
    any_of=[apigw.JsonSchema(required=["request_id", "label"]), apigw.JsonSchema(required=["feedback"])],
)


class InferenceApi(Construct):
    """`GET /models/{name}`, `POST /models/{name}/predict` and `/feedback`, proxied to the predict function."""

    predict_function: lambda_.Function
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
        registry_table: dynamodb.ITable,
        artifacts_bucket: s3.IBucket,
        capture_bucket: s3.IBucket,
        prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.predict_function = factory.create(
            self,
            "predict",
            settings=PredictSettings,
            values={
                "registry_table": registry_table.table_name,
                "artifacts_bucket": artifacts_bucket.bucket_name,
                "capture_bucket": capture_bucket.bucket_name,
                **tunable_defaults(PredictSettings),
            },
            layers=("core", "serving"),
            memory_size=1024,
            timeout=Duration.seconds(29),
        )
        # Serving only reads the registry and the models, and only adds captured traffic.
        registry_table.grant_read_data(self.predict_function)
        artifacts_bucket.grant_read(self.predict_function)
        capture_bucket.grant_put(self.predict_function)

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
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
                throttling_rate_limit=RATE_LIMIT,
                throttling_burst_limit=BURST_LIMIT,
                method_options={
                    "/*/*": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=RATE_LIMIT, throttling_burst_limit=BURST_LIMIT
                    )
                },
            ),
        )
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        integration = apigw.LambdaIntegration(self.predict_function, proxy=True)
        path_parameters = {"method.request.path.name": True}

        model = self.api.root.add_resource("models").add_resource("{name}")
        model.add_method("GET", integration, request_validator=validator, request_parameters=path_parameters)
        for route, (title, schema) in {
            "predict": ("PredictRequest", PREDICT_BODY_SCHEMA),
            "feedback": ("FeedbackRequest", FEEDBACK_BODY_SCHEMA),
        }.items():
            body = self.api.add_model(title, content_type="application/json", schema=schema)
            model.add_resource(route).add_method(
                "POST",
                integration,
                request_validator=validator,
                request_parameters=path_parameters,
                request_models={"application/json": body},
            )

        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan",
            name=f"{prefix}-inference",
            throttle=apigw.ThrottleSettings(rate_limit=RATE_LIMIT, burst_limit=BURST_LIMIT),
            quota=apigw.QuotaSettings(limit=MONTHLY_QUOTA, period=apigw.Period.MONTH),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
        )
        self.api_key = None
        if auth == "api_key":
            self.api_key = self.api.add_api_key("DefaultKey", description=f"{prefix}: default client key")
            self.usage_plan.add_api_key(self.api_key)
            CfnOutput(
                self, "ApiKeyId", value=self.api_key.key_id, description="aws apigateway get-api-key --include-value"
            )
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
