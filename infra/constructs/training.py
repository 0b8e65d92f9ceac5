"""TrainingPipeline: isolated VPC, AWS Batch on Fargate, the pipeline functions and state machine."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.asl import asl_path, check_substitutions
from infra.constructs.lambda_factory import LambdaFactory, function_environment
from infra.constructs.nag import GRANT_PATTERNS, XRAY_REASON, acknowledge, acknowledge_matching
from mlcore.catalog import EvaluateSettings, PromoteSettings, RegisterSettings, TrainSettings, ValidateSettings

ROOT = Path(__file__).resolve().parents[2]
TRAINING_DOCKERFILE = "containers/training/Dockerfile"
# Everything the image does not COPY: keeps the asset small and its hash stable.
IMAGE_EXCLUDES = [
    ".venv", "node_modules", "cdk.out", "tests", ".git", "bench", "events", "functions", "statemachines",
    "build", "reports", "**/__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
]  # fmt: skip
BATCH_EVENTS_RULE = "StepFunctionsGetEventsForBatchJobsRule"


def state_machine_log_group(scope: Construct, construct_id: str) -> logs.LogGroup:
    """Log group of a state machine (the name must start with /aws/vendedlogs/ for large policies)."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=f"/aws/vendedlogs/states/{Stack.of(scope).stack_name}-{construct_id}",
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )


def asl_state_machine(
    scope: Construct, construct_id: str, *, asl: str, substitutions: dict[str, str]
) -> sfn.StateMachine:
    """A state machine from the raw text of `statemachines/<asl>.asl.json`, logged and traced."""
    text = asl_path(asl).read_text()
    check_substitutions(text, substitutions)
    state_machine = sfn.StateMachine(
        scope,
        construct_id,
        definition_body=sfn.DefinitionBody.from_string(text),
        definition_substitutions=substitutions,
        logs=sfn.LogOptions(
            destination=state_machine_log_group(scope, f"{construct_id}Logs"),
            level=sfn.LogLevel.ALL,
            include_execution_data=True,
        ),
        tracing_enabled=True,
    )
    acknowledge(
        state_machine.role,
        {
            "AwsSolutions-IAM5[Resource::*]": f"{XRAY_REASON}; the logs:*LogDelivery* actions of state machine "
            "logging require Resource * as well",
        },
    )
    acknowledge_matching(
        state_machine.role,
        {
            r"AwsSolutions-IAM5\[Resource::<[A-Za-z0-9]+\.Arn>:\*\]": "Function.grant_invoke also covers the "
            "function's versions and aliases (ARN:*) of one function of this state machine",
            **GRANT_PATTERNS,
        },
    )
    return state_machine


class TrainingPipeline(Construct):
    """Validate, train (Batch), evaluate, register and promote, orchestrated by Step Functions."""

    vpc: ec2.Vpc
    job_queue: batch.JobQueue
    job_definition: batch.EcsJobDefinition
    job_role: iam.Role
    jobs_security_group: ec2.SecurityGroup
    image: ecr_assets.DockerImageAsset
    validate_function: lambda_.Function
    evaluate_function: lambda_.Function
    register_function: lambda_.Function
    promote_function: lambda_.Function
    state_machine: sfn.StateMachine

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        key: kms.IKey,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        registry_table: dynamodb.ITable,
        alerts_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._batch(data_bucket=data_bucket, artifacts_bucket=artifacts_bucket, registry_table=registry_table)

        table, artifacts = registry_table.table_name, artifacts_bucket.bucket_name
        self.validate_function = factory.create(
            self,
            "validate",
            settings=ValidateSettings,
            values={"registry_table": table, "data_bucket": data_bucket.bucket_name, "artifacts_bucket": artifacts},
            layers=("core", "data"),
            memory_size=1024,
            timeout=Duration.seconds(60),
        )
        data_bucket.grant_read(self.validate_function)
        artifacts_bucket.grant_read_write(self.validate_function)
        registry_table.grant_read_write_data(self.validate_function)

        self.evaluate_function = factory.create(
            self, "evaluate", settings=EvaluateSettings, values={"registry_table": table, "artifacts_bucket": artifacts}
        )
        artifacts_bucket.grant_read(self.evaluate_function)
        registry_table.grant_read_write_data(self.evaluate_function)

        self.register_function = factory.create(
            self, "register", settings=RegisterSettings, values={"registry_table": table, "artifacts_bucket": artifacts}
        )
        artifacts_bucket.grant_read(self.register_function)
        registry_table.grant_read_write_data(self.register_function)

        self.promote_function = factory.create(
            self, "promote", settings=PromoteSettings, values={"registry_table": table}
        )
        registry_table.grant_read_write_data(self.promote_function)

        self.state_machine = asl_state_machine(
            self,
            "StateMachine",
            asl="training",
            substitutions={
                "ValidateFunctionArn": self.validate_function.function_arn,
                "JobQueueArn": self.job_queue.job_queue_arn,
                "JobDefinitionArn": self.job_definition.job_definition_arn,
                "EvaluateFunctionArn": self.evaluate_function.function_arn,
                "RegisterFunctionArn": self.register_function.function_arn,
                "PromoteFunctionArn": self.promote_function.function_arn,
                "AlertsTopicArn": alerts_topic.topic_arn,
            },
        )
        for function in (self.validate_function, self.evaluate_function, self.register_function, self.promote_function):
            function.grant_invoke(self.state_machine)
        alerts_topic.grant_publish(self.state_machine)
        key.grant(self.state_machine, "kms:Decrypt", "kms:GenerateDataKey*")
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["batch:SubmitJob"],
                resources=[self.job_queue.job_queue_arn, self.job_definition.job_definition_arn],
            )
        )
        # `batch:submitJob.sync` waits on a Step Functions managed EventBridge rule.
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    Stack.of(self).format_arn(service="events", resource="rule", resource_name=BATCH_EVENTS_RULE)
                ],
            )
        )

    def _batch(self, *, data_bucket: s3.IBucket, artifacts_bucket: s3.IBucket, registry_table: dynamodb.ITable) -> None:
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22)
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            flow_logs={
                "FlowLogs": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                        logs.LogGroup(
                            self,
                            "FlowLogsGroup",
                            retention=logs.RetentionDays.ONE_MONTH,
                            removal_policy=RemovalPolicy.DESTROY,
                        )
                    ),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.jobs_security_group = ec2.SecurityGroup(
            self, "JobsSecurityGroup", vpc=self.vpc, description="Batch training jobs", allow_all_outbound=True
        )
        for name, service in (
            ("EcrApi", ec2.InterfaceVpcEndpointAwsService.ECR),
            ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
            ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
        ):
            # Reachable from the training jobs only, not from the whole VPC range.
            endpoint = self.vpc.add_interface_endpoint(name, service=service, private_dns_enabled=True, open=False)
            endpoint.connections.allow_default_port_from(self.jobs_security_group)

        compute = batch.FargateComputeEnvironment(
            self,
            "Compute",
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            maxv_cpus=32,
            security_groups=[self.jobs_security_group],
            spot=False,
        )
        self.job_queue = batch.JobQueue(
            self,
            "Queue",
            compute_environments=[batch.OrderedComputeEnvironment(compute_environment=compute, order=1)],
        )
        self.image = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(ROOT),
            file=TRAINING_DOCKERFILE,
            exclude=IMAGE_EXCLUDES,
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Training job: reads data, writes artifacts and the registry",
        )
        data_bucket.grant_read(self.job_role)
        artifacts_bucket.grant_read_write(self.job_role)
        registry_table.grant_read_write_data(self.job_role)
        acknowledge_matching(self.job_role, GRANT_PATTERNS)
        container = batch.EcsFargateContainerDefinition(
            self,
            "TrainContainer",
            image=ecs.ContainerImage.from_docker_image_asset(self.image),
            cpu=2,
            memory=Size.gibibytes(8),
            environment=function_environment(
                TrainSettings,
                {"registry_table": registry_table.table_name, "artifacts_bucket": artifacts_bucket.bucket_name},
            ),
            job_role=self.job_role,
            logging=ecs.LogDriver.aws_logs(
                stream_prefix="training",
                log_group=logs.LogGroup(
                    self,
                    "TrainLogs",
                    retention=logs.RetentionDays.ONE_MONTH,
                    removal_policy=RemovalPolicy.DESTROY,
                ),
            ),
            fargate_cpu_architecture=ecs.CpuArchitecture.X86_64,
            fargate_operating_system_family=ecs.OperatingSystemFamily.LINUX,
        )
        self.job_definition = batch.EcsJobDefinition(
            self, "TrainJob", container=container, retry_attempts=2, timeout=Duration.hours(4)
        )
        acknowledge(
            container,
            {
                "AwsSolutions-IAM5[Resource::*]": "The task execution role needs ecr:GetAuthorizationToken, "
                "which supports no resource-level permissions; image pulls are scoped to the asset repository",
            },
        )
