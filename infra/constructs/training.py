"""TrainingPipeline: isolated VPC, AWS Batch on Fargate, the pipeline functions and state machine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from aws_cdk import ArnFormat, Duration, Size, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.asl import asl_path, check_substitutions
from infra.constructs.lambda_factory import LambdaFactory, function_environment, settings_values
from infra.constructs.log_groups import log_group
from infra.constructs.nag import GRANT_PATTERNS, XRAY_REASON, acknowledge, acknowledge_matching
from infra.constructs.resources import PlatformResources
from mlcore.catalog import (
    ALERTS_TOPIC,
    ARTIFACTS_BUCKET,
    ATHENA_RESULTS,
    DATASETS,
    DATASETS_DATABASE,
    DATASETS_WORK_GROUP,
    GPU_INSTANCE_TYPES,
    GPU_JOB_DEFINITION,
    GPU_JOB_QUEUE,
    IMAGE_OUTPUT_OBJECTS,
    JOB_DEFINITION,
    JOB_QUEUE,
    QUERY_OBJECTS,
    RUN_OBJECTS,
    SPOT_JOB_QUEUE,
    TRAINING_JOB,
    TRAINING_PIPELINE,
    Access,
    FunctionArn,
    Job,
    ResourceArn,
    StateMachine,
)

ROOT = Path(__file__).resolve().parents[2]
TRAINING_DOCKERFILE = "containers/training/Dockerfile"
# Everything the image does not COPY: keeps the asset small and its hash stable.
IMAGE_EXCLUDES = [
    ".venv", "node_modules", "cdk.out", "tests", ".git", "bench", "events", "functions", "statemachines",
    "build", "reports", "**/__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
]  # fmt: skip
BATCH_EVENTS_RULE = "StepFunctionsGetEventsForBatchJobsRule"


def state_machine_log_group(scope: Construct, construct_id: str, key: kms.IKey) -> logs.LogGroup:
    """Log group of a state machine (the name must start with /aws/vendedlogs/ for large policies)."""
    # the scope's id too: two capabilities of a stack may each name their state machine's logs alike
    name = f"/aws/vendedlogs/states/{Stack.of(scope).stack_name}-{scope.node.id}{construct_id}"
    return log_group(scope, construct_id, key, name)


def asl_state_machine(
    scope: Construct,
    construct_id: str,
    *,
    machine: StateMachine,
    functions: Mapping[str, lambda_.IFunction],
    resources: PlatformResources,
    arns: Mapping[str, str] | None = None,
    state_machine_name: str | None = None,
) -> sfn.StateMachine:
    """A catalog state machine from the raw text of its ASL file, logged and traced.

    Each placeholder resolves as the catalog says: a function's ARN (and the right to invoke it),
    the alerts topic (and the right to publish to it, with its key), or an ARN from `arns`.
    """
    given = dict(arns or {})
    substitutions: dict[str, str] = {}
    for placeholder, value in machine.substitutions.items():
        if isinstance(value, FunctionArn):
            substitutions[placeholder] = functions[value.function].function_arn
        elif value.resource == ALERTS_TOPIC:
            substitutions[placeholder] = resources.alerts_topic.topic_arn
        else:
            substitutions[placeholder] = given[value.resource]
    text = asl_path(machine.name).read_text()
    check_substitutions(text, substitutions)
    state_machine = sfn.StateMachine(
        scope,
        construct_id,
        definition_body=sfn.DefinitionBody.from_string(text),
        definition_substitutions=substitutions,
        state_machine_name=state_machine_name,
        logs=sfn.LogOptions(
            destination=state_machine_log_group(scope, f"{construct_id}Logs", resources.key),
            level=sfn.LogLevel.ALL,
            include_execution_data=True,
        ),
        tracing_enabled=True,
    )
    for name in machine.functions:
        functions[name].grant_invoke(state_machine)
    if ALERTS_TOPIC in {v.resource for v in machine.substitutions.values() if isinstance(v, ResourceArn)}:
        resources.alerts_topic.grant_publish(state_machine)
        resources.key.grant(state_machine, "kms:Decrypt", "kms:GenerateDataKey*")
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
            r"AwsSolutions-IAM5\[Resource::[A-Za-z0-9]+:ExportsOutputFnGetAtt[A-Za-z0-9]+Arn[A-Za-z0-9]+:\*\]": (
                "Function.grant_invoke of a function another stack of this app shares (the failure report) "
                "also covers its versions and aliases (ARN:*)"
            ),
            **GRANT_PATTERNS,
        },
    )
    return state_machine


EXECUTION_ROLE_STAR = {
    "AwsSolutions-IAM5[Resource::*]": "The task execution role needs ecr:GetAuthorizationToken, which supports "
    "no resource-level permissions; image pulls are scoped to the asset repository",
}


def allow_batch_jobs(state_machine: sfn.StateMachine, arns: list[str]) -> None:
    """Let a state machine submit jobs to these queues with these definitions, and wait for them (`.sync`)."""
    state_machine.add_to_role_policy(iam.PolicyStatement(actions=["batch:SubmitJob"], resources=arns))
    # `batch:submitJob.sync` waits on a Step Functions managed EventBridge rule.
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[
                Stack.of(state_machine).format_arn(service="events", resource="rule", resource_name=BATCH_EVENTS_RULE)
            ],
        )
    )


def allow_distributed_map(
    state_machine: sfn.StateMachine, state_machine_name: str, resources: PlatformResources, bucket: str
) -> None:
    """Let a state machine's Distributed Map read its items from `bucket` and run each as a child execution
    of itself (by its name: a reference to its own ARN would be a cycle)."""
    stack = Stack.of(state_machine)

    def arn(resource: str, name: str) -> str:
        return stack.format_arn(
            service="states", resource=resource, resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )

    resources.grant(bucket, state_machine.role, Access.READ)
    children = f"{state_machine_name}/*"
    state_machine.add_to_role_policy(
        iam.PolicyStatement(actions=["states:StartExecution"], resources=[arn("stateMachine", state_machine_name)])
    )
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            actions=["states:DescribeExecution", "states:StopExecution"], resources=[arn("execution", children)]
        )
    )
    acknowledge(
        state_machine.role,
        {
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f"{children}]": (
                "A Distributed Map's child executions are named by Step Functions at run time: the grant is "
                "limited to this state machine's own executions"
            ),
        },
    )


class TrainingPipeline(Construct):
    """Validate, train (Batch), evaluate, register and promote, orchestrated by Step Functions."""

    vpc: ec2.Vpc
    job_queue: batch.JobQueue
    spot_job_queue: batch.JobQueue
    gpu_job_queue: batch.JobQueue  # with the mlops:gpuJobs context flag only
    job_definition: batch.EcsJobDefinition
    gpu_job_definition: batch.EcsJobDefinition
    job_role: iam.Role
    jobs_security_group: ec2.SecurityGroup
    image: ecr_assets.DockerImageAsset
    functions: dict[str, lambda_.Function]
    state_machine: sfn.StateMachine

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        resources: PlatformResources,
        state_machine_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._batch(resources)
        if resources.gpu_jobs:
            self._gpu_queue(resources)
        # Without the GPU queue, its slots in the state machine's arrays name the on-demand queue and the
        # Fargate definition: validate never picks them (it refuses training.resources.gpu there).
        gpu_queue = self.gpu_job_queue if resources.gpu_jobs else self.job_queue
        gpu_definition = self.gpu_job_definition if resources.gpu_jobs else self.job_definition
        image_jobs = f"{state_machine_name}-image"
        resources = self._own_images(resources, image_jobs)
        factory = factory.with_resources(resources)
        self.functions = {name: factory.create(self, name) for name in TRAINING_PIPELINE.functions}
        self.state_machine = asl_state_machine(
            self,
            "StateMachine",
            machine=TRAINING_PIPELINE,
            functions=self.functions,
            resources=resources,
            arns={
                JOB_QUEUE: self.job_queue.job_queue_arn,
                SPOT_JOB_QUEUE: self.spot_job_queue.job_queue_arn,
                GPU_JOB_QUEUE: gpu_queue.job_queue_arn,
                JOB_DEFINITION: self.job_definition.job_definition_arn,
                GPU_JOB_DEFINITION: gpu_definition.job_definition_arn,
                DATASETS_WORK_GROUP: self._work_group_name(state_machine_name),
                DATASETS_DATABASE: resources.datasets_database.ref,
            },
            state_machine_name=state_machine_name,  # its steps read its history by this name (record_run)
        )
        self._queries(resources, self._work_group_name(state_machine_name))
        # Validate checks a large dataset in parts: a Distributed Map over the plan in the artifacts bucket.
        allow_distributed_map(self.state_machine, state_machine_name, resources, ARTIFACTS_BUCKET)
        own_images = Stack.of(self).format_arn(
            service="batch", resource="job-definition", resource_name=f"{image_jobs}-*"
        )
        allow_batch_jobs(
            self.state_machine,
            sorted(
                {
                    self.job_queue.job_queue_arn,
                    self.spot_job_queue.job_queue_arn,
                    gpu_queue.job_queue_arn,
                    self.job_definition.job_definition_arn,
                    gpu_definition.job_definition_arn,
                    own_images,
                }
            ),
        )

    @staticmethod
    def _work_group_name(state_machine_name: str) -> str:
        return f"{state_machine_name}-queries"

    def _queries(self, resources: PlatformResources, name: str) -> None:
        """The Athena work group a spec's `data.source.athena_sql` runs in (its results encrypted with the data
        key, its settings enforced), and what the query may do with the state machine's role: read the datasets
        database's tables and their files under datasets/, unload under queries/, write the work group's output."""
        athena.CfnWorkGroup(
            self,
            "QueryWorkGroup",
            name=name,
            description="Runs the training pipeline's dataset queries (data.source.athena_sql)",
            recursive_delete_option=True,  # its query history must not block `cdk destroy`
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=resources.data_bucket.s3_url_for_object(ATHENA_RESULTS),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=resources.key.key_arn
                    ),
                ),
            ),
        )
        role = self.state_machine.role
        work_group = Stack.of(self).format_arn(service="athena", resource="workgroup", resource_name=name)
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution"],
                resources=[work_group],
            )
        )
        resources.grant(DATASETS_DATABASE, role, Access.READ)
        resources.data_bucket.grant_read(role, f"{DATASETS}*")
        resources.data_bucket.grant_put(role, QUERY_OBJECTS)
        resources.data_bucket.grant_read(role, f"{ATHENA_RESULTS}*")  # never delete: the bucket is versioned
        resources.data_bucket.grant_put(role, f"{ATHENA_RESULTS}*")

    def _own_images(self, resources: PlatformResources, prefix: str) -> PlatformResources:
        """What a model's own training image runs with: a role that reads the runs' files and writes only the
        image output folders (no registry), an execution role that pulls from this account's ECR, its logs."""
        logs_group = log_group(self, "ImageLogs", resources.key)
        job_role = iam.Role(
            self,
            "ImageJobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="A model's own training image: reads its run's split and spec, writes its output folder",
        )
        resources.artifacts_bucket.grant_read(job_role, RUN_OBJECTS)
        resources.artifacts_bucket.grant_put(job_role, IMAGE_OUTPUT_OBJECTS)
        execution_role = iam.Role(
            self,
            "ImageExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Pulls a model's own training image from this account's ECR and writes its logs",
        )
        repositories = Stack.of(self).format_arn(service="ecr", resource="repository", resource_name="*")
        execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[repositories],
            )
        )
        execution_role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        logs_group.grant_write(execution_role)
        acknowledge_matching(
            job_role,
            {
                rf"AwsSolutions-IAM5\[Resource::[^*]+/{re.escape(IMAGE_OUTPUT_OBJECTS)}\]": "Puts only: the output "
                "folders of the runs' own images, never a model the registry serves",
                **GRANT_PATTERNS,
            },
        )
        acknowledge_matching(
            execution_role,
            {
                r"AwsSolutions-IAM5\[Resource::\*\]": "ecr:GetAuthorizationToken supports no resource-level "
                "permissions",
                r"AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:"
                r"repository/\*\]": "A model's own image may be in any of this account's repositories (the spec "
                "names it); pulls only",
            },
        )
        return replace(
            resources,
            image_job_prefix=prefix,
            image_job_role=job_role,
            image_execution_role=execution_role,
            image_log_group=logs_group,
        )

    def _batch(self, resources: PlatformResources) -> None:
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
                        log_group(self, "FlowLogsGroup", resources.key)
                    ),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self._endpoint_policies(resources)
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

        # One queue per way a model's jobs may run (catalog.compute.JOB_QUEUES): on demand, and Spot.
        queues = {}
        for construct_id, spot in (("", False), ("Spot", True)):
            compute = batch.FargateComputeEnvironment(
                self,
                f"{construct_id}Compute",
                vpc=self.vpc,
                vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
                maxv_cpus=32,
                security_groups=[self.jobs_security_group],
                spot=spot,
            )
            queues[spot] = batch.JobQueue(
                self,
                f"{construct_id}Queue",
                compute_environments=[batch.OrderedComputeEnvironment(compute_environment=compute, order=1)],
            )
        self.job_queue, self.spot_job_queue = queues[False], queues[True]
        self.image = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(ROOT),
            file=TRAINING_DOCKERFILE,
            exclude=IMAGE_EXCLUDES,
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        self.job_role, self.job_definition = self.job_definition_for(TRAINING_JOB, "Train", "JobRole", resources)

    def job_definition_for(
        self, job: Job, name: str, role_id: str, resources: PlatformResources
    ) -> tuple[iam.Role, batch.EcsJobDefinition]:
        """A job of the training image: its own role with the catalog's access, its command, logs and limits."""
        role = iam.Role(
            self,
            role_id,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=job.description,
        )
        for resource, access in job.access.items():
            resources.grant(resource, role, access)
        acknowledge_matching(role, GRANT_PATTERNS)
        container = batch.EcsFargateContainerDefinition(
            self,
            f"{name}Container",
            **self._container(job, name, role, resources),
            ephemeral_storage_size=None if job.disk_gib is None else Size.gibibytes(job.disk_gib),
            fargate_cpu_architecture=ecs.CpuArchitecture.X86_64,
            fargate_operating_system_family=ecs.OperatingSystemFamily.LINUX,
        )
        definition = batch.EcsJobDefinition(
            self,
            f"{name}Job",
            container=container,
            retry_attempts=job.retries,
            timeout=Duration.hours(job.timeout_hours),
        )
        acknowledge(container, EXECUTION_ROLE_STAR)
        return role, definition

    def _container(self, job: Job, name: str, role: iam.IRole, resources: PlatformResources) -> dict[str, Any]:
        """What a job's container is, on Fargate or EC2: the training image, its command, settings, role, logs."""
        return {
            "image": ecs.ContainerImage.from_docker_image_asset(self.image),
            "cpu": job.vcpus,
            "memory": Size.gibibytes(job.memory_gib),
            "command": list(job.command) or None,
            "environment": function_environment(job.settings, settings_values(job.settings, resources)),
            "job_role": role,
            "logging": ecs.LogDriver.aws_logs(
                stream_prefix=job.name,
                log_group=log_group(self, f"{name}Logs", resources.key),
            ),
        }

    def _endpoint_policies(self, resources: PlatformResources) -> None:
        """The gateway endpoints reach the platform's buckets and table only (and the bucket ECR serves image
        layers from): a job cannot copy data to another bucket through them, whatever its role allows."""
        stack = Stack.of(self)
        buckets = [resources.data_bucket, resources.artifacts_bucket, resources.capture_bucket]
        s3 = cast(ec2.GatewayVpcEndpoint, self.vpc.node.find_child("S3"))
        s3.add_to_policy(
            iam.PolicyStatement(
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation"],
                resources=[arn for bucket in buckets for arn in (bucket.bucket_arn, bucket.arn_for_objects("*"))],
            )
        )
        s3.add_to_policy(
            iam.PolicyStatement(
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::prod-{stack.region}-starport-layer-bucket/*"],
            )
        )
        dynamodb = cast(ec2.GatewayVpcEndpoint, self.vpc.node.find_child("DynamoDB"))
        dynamodb.add_to_policy(
            iam.PolicyStatement(
                principals=[iam.AnyPrincipal()],
                actions=["dynamodb:GetItem", "dynamodb:Query"],  # the jobs read the registry, never write it
                resources=[resources.registry_table.table_arn],
            )
        )

    def _gpu_queue(self, resources: PlatformResources) -> None:
        """The EC2 GPU queue (`mlops:gpuJobs`) and the training job's definition for it, with the job's role.

        Its instances run in the isolated subnets: the ECS agent reaches ECS through endpoints, and
        pulls the training image and writes logs with the instance role, which may do only that.
        """
        for construct_id, service in (
            ("Ecs", ec2.InterfaceVpcEndpointAwsService.ECS),
            ("EcsAgent", ec2.InterfaceVpcEndpointAwsService.ECS_AGENT),
            ("EcsTelemetry", ec2.InterfaceVpcEndpointAwsService.ECS_TELEMETRY),
        ):
            endpoint = self.vpc.add_interface_endpoint(
                construct_id, service=service, private_dns_enabled=True, open=False
            )
            endpoint.connections.allow_default_port_from(self.jobs_security_group)
        instance_role = iam.Role(
            self,
            "GpuInstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="The GPU queue's instances: the ECS agent, the training image's pulls and its logs",
        )
        stack = Stack.of(self)
        instance_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ecs:RegisterContainerInstance",
                    "ecs:DeregisterContainerInstance",
                    "ecs:SubmitAttachmentStateChanges",
                    "ecs:SubmitContainerStateChange",
                    "ecs:SubmitTaskStateChange",
                    "ecs:UpdateContainerInstancesState",
                    "ecs:Poll",
                    "ecs:StartTelemetrySession",
                ],
                resources=[
                    stack.format_arn(service="ecs", resource="cluster", resource_name="*"),
                    stack.format_arn(service="ecs", resource="container-instance", resource_name="*"),
                ],
            )
        )
        instance_role.add_to_policy(iam.PolicyStatement(actions=["ecs:DiscoverPollEndpoint"], resources=["*"]))
        self.image.repository.grant_pull(instance_role)
        acknowledge_matching(
            instance_role,
            {
                r"AwsSolutions-IAM5\[Resource::\*\]": "ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken "
                "support no resource-level permissions",
                r"AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:"
                r"(cluster|container-instance)/\*\]": "Batch names the GPU compute environment's ECS cluster and "
                "its instances at run time",
            },
        )
        compute = batch.ManagedEc2EcsComputeEnvironment(
            self,
            "GpuCompute",
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            instance_types=[ec2.InstanceType(t) for t in GPU_INSTANCE_TYPES],
            use_optimal_instance_classes=False,
            images=[batch.EcsMachineImage(image_type=batch.EcsMachineImageType.ECS_AL2023_NVIDIA)],
            minv_cpus=0,
            maxv_cpus=96,
            security_groups=[self.jobs_security_group],
            instance_role=instance_role,
        )
        self.gpu_job_queue = batch.JobQueue(
            self,
            "GpuQueue",
            compute_environments=[batch.OrderedComputeEnvironment(compute_environment=compute, order=1)],
        )
        container = batch.EcsEc2ContainerDefinition(
            self, "GpuTrainContainer", **self._container(TRAINING_JOB, "GpuTrain", self.job_role, resources), gpu=1
        )
        acknowledge(container, EXECUTION_ROLE_STAR)
        self.gpu_job_definition = batch.EcsJobDefinition(
            self,
            "GpuTrainJob",
            container=container,
            retry_attempts=TRAINING_JOB.retries,
            timeout=Duration.hours(TRAINING_JOB.timeout_hours),
        )
