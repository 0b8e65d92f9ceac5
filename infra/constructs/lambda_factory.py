"""The one place that builds Lambda functions: from their catalog entry, with every platform default.

A function's environment has one variable per field of its settings model (resource fields from
`PlatformResources`, tunable ones at their default), its layers, memory, timeout and grants come
from `mlcore.catalog.FUNCTIONS`. Each function's Description is `mlops:function=<name>`: tests and
the local target map a synthesized function to its folder `functions/<name>/` with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.log_groups import log_group
from infra.constructs.nag import GRANT_PATTERNS, XRAY_REASON, acknowledge, acknowledge_matching, checkov_skip
from infra.constructs.resources import PlatformResources
from mlcore.catalog import (
    CODE_VERSION,
    FUNCTION_TAG,
    FUNCTIONS,
    GPU_JOBS,
    IMAGE_FUNCTION_TAG,
    SEPARATION_OF_DUTIES,
    Access,
    Job,
    Settings,
    env_keys,
    metrics,
    tunable_defaults,
)

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"
# checkov's findings on every function, and why they stand.
FUNCTION_CHECKOV_REASONS = {
    "CKV_AWS_115": "No reserved concurrency: one function reserving the account's pool would starve the others; the "
    "API throttles per stage and method, Step Functions Maps cap their concurrency",
    "CKV_AWS_116": "No function DLQ: a DLQ holds failed asynchronous invocations, and none is asynchronous (API "
    "Gateway and Step Functions invoke synchronously and retry and catch; stream sources have their own on-failure "
    "queue)",
    "CKV_AWS_117": "Outside a VPC: the functions call AWS APIs only, over TLS with IAM; a VPC would need an endpoint "
    "per service (or NAT) for no network boundary they need; the Batch jobs, which run user code, are in the VPC",
    "CKV_AWS_173": "The environment holds resource names and tunables only, never a secret (the request-id secret is "
    "derived through KMS at run time); Lambda encrypts it at rest",
}


class SettingsMismatchError(ValueError):
    """The values given for a function do not name exactly the fields of its settings model."""


def function_environment(settings: type[Settings], values: Mapping[str, object]) -> dict[str, str]:
    """`{FIELD: value}` for every field of `settings`; fails on a missing or unknown field."""
    fields = set(settings.model_fields)
    missing = sorted(fields - values.keys())
    unknown = sorted(values.keys() - fields)
    if missing or unknown:
        raise SettingsMismatchError(f"{settings.__name__}: missing values {missing}; unknown values {unknown}")
    environment = {name.upper(): str(value) for name, value in values.items()}
    assert sorted(environment) == env_keys(settings)
    return environment


def function_description(name: str) -> str:
    """The Description that tags a function with its folder name."""
    return f"{FUNCTION_TAG}{name}"


def settings_values(settings: type[Settings], resources: PlatformResources) -> dict[str, object]:
    """Every field of a settings model: the build's commit, a resource's name (or ARN), or its default."""
    tunables = tunable_defaults(settings)

    def value(name: str) -> object:
        if name == CODE_VERSION:
            return resources.code_version
        if name == GPU_JOBS:
            return resources.gpu_jobs
        if name == SEPARATION_OF_DUTIES:
            return resources.separation_of_duties
        return tunables[name] if name in tunables else resources.setting(name)

    return {name: value(name) for name in settings.model_fields}


class LambdaFactory:
    """Builds the catalog's functions: Python 3.12, JSON logs, X-Ray, 1-month logs, least-privilege grants."""

    def __init__(
        self, *, prefix: str, layers: Mapping[str, lambda_.ILayerVersion], resources: PlatformResources
    ) -> None:
        self.prefix = prefix
        self.layers = dict(layers)
        self.resources = resources

    def with_resources(self, resources: PlatformResources) -> LambdaFactory:
        """The same factory over `resources` (a stack's resources and ones made since, e.g. a state machine)."""
        return LambdaFactory(prefix=self.prefix, layers=self.layers, resources=resources)

    def create(self, scope: Construct, name: str) -> lambda_.Function:
        """The catalog function `name`: `functions/<name>/handler.py`, its log group, role, grants and environment."""
        entry = FUNCTIONS[name]
        environment = function_environment(entry.settings, settings_values(entry.settings, self.resources))
        environment["POWERTOOLS_SERVICE_NAME"] = name
        environment["POWERTOOLS_METRICS_NAMESPACE"] = metrics.namespace(self.prefix)
        construct_id, role, defaults = self._defaults(
            scope, name, entry.memory_mb, entry.ephemeral_mb, entry.timeout_seconds
        )
        function = lambda_.Function(
            scope,
            f"{construct_id}Function",
            description=function_description(name),
            runtime=lambda_.Runtime.PYTHON_3_12,
            code=lambda_.Code.from_asset(str(FUNCTIONS_DIR / name), exclude=["__pycache__", "*.pyc"]),
            handler=entry.handler,
            environment=environment,
            layers=[self.layers[layer] for layer in entry.layers],
            **defaults,
        )
        acknowledge(
            function,
            {
                "AwsSolutions-L1": "Python 3.12 is pinned on purpose: the layers are built for cp312 wheels "
                "(pip --python-version 3.12); runtime and layers move together",
            },
        )
        star = XRAY_REASON
        if Access.REGISTER in entry.access.values():
            star += "; batch:DescribeJobDefinitions (finding a model's image job definition) supports none either"
        self._secure(function, role, entry.settings, entry.access, star)
        return function

    def create_from_image(
        self,
        scope: Construct,
        job: Job,
        image: ecr_assets.DockerImageAsset,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
    ) -> lambda_.Function:
        """A job's Lambda function (`job.function`): the job's image and entrypoint with the function's command,
        the job's settings and access, the platform's defaults (its own role and log group, X-Ray, JSON logs), and
        the job's network: the isolated subnets, whose gateway endpoints reach only the platform's buckets and
        table (the data a job reads cannot leave for another bucket, whatever its role allows)."""
        entry = job.function
        if entry is None:
            raise ValueError(f"the {job.name} job has no Lambda function in the catalog")
        construct_id, role, defaults = self._defaults(
            scope, entry.name, entry.memory_mb, entry.ephemeral_mb, entry.timeout_seconds
        )
        function = lambda_.DockerImageFunction(
            scope,
            f"{construct_id}Function",
            description=f"{IMAGE_FUNCTION_TAG}{entry.name}",
            code=lambda_.DockerImageCode.from_ecr(
                image.repository, tag_or_digest=image.image_tag, cmd=list(entry.command)
            ),
            environment=function_environment(job.settings, settings_values(job.settings, self.resources)),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[security_group],
            **defaults,
        )
        acknowledge(
            role,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaVPCAccessExecutionRole]": "Lambda's own policy for a function in a VPC: the network "
                "interfaces Lambda creates in the isolated subnets, nothing else",
            },
        )
        in_vpc = {check: reason for check, reason in FUNCTION_CHECKOV_REASONS.items() if check != "CKV_AWS_117"}
        self._secure(function, role, job.settings, job.access, XRAY_REASON, checkov_reasons=in_vpc)
        return function

    def _defaults(
        self, scope: Construct, name: str, memory_mb: int, ephemeral_mb: int, timeout_seconds: int
    ) -> tuple[str, iam.Role, dict[str, Any]]:
        """A function's construct id, its own role (instead of AWSLambdaBasicExecutionRole: it logs only to its own
        log group), and the properties every function has: x86_64 (the layers' wheels, the image's platform), its
        sizes, X-Ray, JSON logs into its own log group under the platform's key."""
        construct_id = "".join(part.capitalize() for part in name.split("_"))
        logs_group = log_group(scope, f"{construct_id}Logs", self.resources.key)
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Lambda {name}",
        )
        logs_group.grant_write(role)
        return (
            construct_id,
            role,
            {
                "architecture": lambda_.Architecture.X86_64,
                "memory_size": memory_mb,
                "ephemeral_storage_size": Size.mebibytes(ephemeral_mb),
                "timeout": Duration.seconds(timeout_seconds),
                "tracing": lambda_.Tracing.ACTIVE,
                "logging_format": lambda_.LoggingFormat.JSON,
                "log_group": logs_group,
                "role": role,
            },
        )

    def _secure(
        self,
        function: lambda_.Function,
        role: iam.Role,
        settings: type[Settings],
        access: Mapping[str, Access],
        star_reason: str,
        *,
        checkov_reasons: Mapping[str, str] = FUNCTION_CHECKOV_REASONS,
    ) -> None:
        """The catalog's grants, and the findings of checkov and cdk-nag that stand, with their reasons."""
        checkov_skip(function, dict(checkov_reasons))
        if CODE_VERSION in settings.model_fields:
            checkov_skip(
                function, {"CKV_AWS_45": "CODE_VERSION is the git commit the app was built from, not a secret"}
            )
        acknowledge(role, {"AwsSolutions-IAM5[Resource::*]": star_reason})
        acknowledge_matching(role, GRANT_PATTERNS)
        for resource, level in access.items():
            self.resources.grant(resource, function, level)
