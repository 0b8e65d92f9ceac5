"""The one place that sets every Lambda default; environments come from the core settings models.

Each function's Description is `mlops:function=<name>`: tests and the local target map a
synthesized function to its folder `functions/<name>/` and its settings model with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.nag import GRANT_PATTERNS, XRAY_REASON, acknowledge, acknowledge_matching
from mlcore.catalog import Settings, env_keys

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"
DESCRIPTION_PREFIX = "mlops:function="
METRICS_NAMESPACE = "Mlops"


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
    return f"{DESCRIPTION_PREFIX}{name}"


class LambdaFactory:
    """Builds Python 3.12 functions with the platform's defaults (JSON logs, X-Ray, 1-month logs)."""

    def __init__(self, *, prefix: str, layers: Mapping[str, lambda_.ILayerVersion]) -> None:
        self.prefix = prefix
        self.layers = dict(layers)

    def create(
        self,
        scope: Construct,
        name: str,
        *,
        settings: type[Settings],
        values: Mapping[str, object],
        layers: Sequence[str] = ("core",),
        memory_size: int = 512,
        timeout: Duration | None = None,
    ) -> lambda_.Function:
        """A function running `functions/<name>/handler.py:handler`, its log group and environment."""
        environment = function_environment(settings, values)
        environment["POWERTOOLS_SERVICE_NAME"] = name
        environment["POWERTOOLS_METRICS_NAMESPACE"] = METRICS_NAMESPACE
        construct_id = "".join(part.capitalize() for part in name.split("_"))
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}Logs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Its own role instead of AWSLambdaBasicExecutionRole: logs only to its own log group.
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Lambda {name}",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            f"{construct_id}Function",
            description=function_description(name),
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            code=lambda_.Code.from_asset(str(FUNCTIONS_DIR / name), exclude=["__pycache__", "*.pyc"]),
            handler="handler.handler",
            environment=environment,
            layers=[self.layers[layer] for layer in layers],
            memory_size=memory_size,
            timeout=timeout or Duration.seconds(30),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            role=role,
        )
        acknowledge(
            function,
            {
                "AwsSolutions-L1": "Python 3.12 is pinned on purpose: the layers are built for cp312 wheels "
                "(pip --python-version 3.12); runtime and layers move together",
            },
        )
        acknowledge(role, {"AwsSolutions-IAM5[Resource::*]": XRAY_REASON})
        acknowledge_matching(role, GRANT_PATTERNS)
        return function
