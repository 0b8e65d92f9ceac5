"""The platform's shared resources, by the names the catalog gives them, and what `Access` grants on each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mlcore.catalog import BATCH_OUTPUT_PATTERNS, MODEL_OBJECTS, QUERY_OBJECTS, REGISTRY_TABLE, Access, resource_of


class UnknownResourceError(LookupError):
    """A catalog entry names a resource the stacks do not provide (yet)."""


@dataclass(frozen=True)
class PlatformResources:
    """What the data plane (and later stacks) give the compute that uses it."""

    key: kms.IKey
    registry_table: dynamodb.ITable
    data_bucket: s3.IBucket
    artifacts_bucket: s3.IBucket
    capture_bucket: s3.IBucket
    alerts_topic: sns.ITopic
    runs_database: glue.CfnDatabase
    online_features_table: dynamodb.ITable
    features_database: glue.CfnDatabase
    datasets_database: glue.CfnDatabase
    event_bus: events.IEventBus  # the account's default bus: the registry's events go there
    request_id_key: kms.IKey  # the HMAC key the API's request ids are signed with (feedback integrity)
    # The registry's audit records (append-only: granted with the registry, PutItem and reads only) and their
    # export under Object Lock.
    audit_table: dynamodb.ITable
    audit_bucket: s3.IBucket
    code_version: str = "unknown"  # the commit the app is synthesized from (CODE_VERSION settings)
    gpu_jobs: bool = False  # the deployment has the EC2 GPU queue (GPU_JOBS settings)
    separation_of_duties: bool = False  # a run's starter never approves its version (SEPARATION_OF_DUTIES settings)
    training_state_machine: sfn.IStateMachine | None = None
    batch_state_machine: sfn.IStateMachine | None = None  # batch scoring, which the schedule's tick starts
    # The ARN pattern of the training pipeline's executions: from its name, so that its own steps
    # may read its history without a reference cycle (function -> policy -> state machine -> function).
    training_executions: str | None = None
    # A model's own training image: the name prefix of its job definitions, its roles and its log group.
    image_job_prefix: str | None = None
    image_job_role: iam.IRole | None = None
    image_execution_role: iam.IRole | None = None
    image_log_group: logs.ILogGroup | None = None
    # Catalog functions another stack created, that this one's state machines invoke too.
    functions: Mapping[str, lambda_.IFunction] = field(default_factory=dict)

    def with_training(
        self, state_machine: sfn.IStateMachine, shared: Mapping[str, lambda_.IFunction]
    ) -> PlatformResources:
        return replace(self, training_state_machine=state_machine, functions={**self.functions, **shared})

    def with_batch(self, state_machine: sfn.IStateMachine) -> PlatformResources:
        return replace(self, batch_state_machine=state_machine)

    def with_executions(self, state_machine_name: str, scope: Stack) -> PlatformResources:
        arn = scope.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        return replace(self, training_executions=arn)

    def get(self, resource: str) -> Any:
        value = getattr(self, resource, None)
        if value is None:
            raise UnknownResourceError(f"no resource '{resource}' in this stack's PlatformResources")
        return value

    def setting(self, field: str) -> str:
        """The value of a settings field naming a resource: its name, or its ARN for `_arn` fields."""
        resource = resource_of(field)
        target = self.get(resource)
        values = {
            "_table": lambda: target.table_name,
            "_bucket": lambda: target.bucket_name,
            "_state_machine": lambda: target.state_machine_arn,
            "_topic": lambda: target.topic_arn,
            "_database": lambda: target.ref,
            "_role": lambda: target.role_arn,
            "_log_group": lambda: target.log_group_name,
            "_prefix": lambda: target,
            "_bus": lambda: target.event_bus_name,
            "_key": lambda: target.key_arn,
        }
        return str(values[_kind(resource)]())

    def grant(self, resource: str, grantee: iam.IGrantable, access: Access) -> None:
        """Grant `access` on a resource (and on its key) through the construct's own `grant_*`."""
        target = self.get(resource)
        grants: dict[tuple[str, Access], Any] = {
            ("_table", Access.READ): lambda: target.grant_read_data(grantee),
            ("_table", Access.READ_WRITE): lambda: target.grant_read_write_data(grantee),
            ("_bucket", Access.READ): lambda: target.grant_read(grantee),
            ("_bucket", Access.READ_MODELS): lambda: target.grant_read(grantee, MODEL_OBJECTS),
            ("_bucket", Access.PUT): lambda: target.grant_put(grantee),
            ("_bucket", Access.READ_PUT_QUERIES): lambda: (
                target.grant_read(grantee),
                target.grant_put(grantee, QUERY_OBJECTS),
            ),
            # read and put, never delete: the buckets are versioned, and no step removes what another wrote
            ("_bucket", Access.READ_WRITE): lambda: (target.grant_read(grantee), target.grant_put(grantee)),
            # a failed batch's own outputs withdrawn: DeleteObject only (a delete marker), never a version
            ("_bucket", Access.WITHDRAW_BATCHES): lambda: (
                target.grant_read(grantee),
                target.grant_put(grantee),
                grantee.grant_principal.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["s3:DeleteObject"],
                        resources=[target.arn_for_objects(pattern) for pattern in BATCH_OUTPUT_PATTERNS],
                    )
                ),
            ),
            ("_state_machine", Access.START): lambda: target.grant_start_execution(grantee),
            ("_state_machine", Access.CALLBACK): lambda: target.grant_task_response(grantee),
            ("_state_machine", Access.START_AND_CALLBACK): lambda: (
                target.grant_start_execution(grantee),
                target.grant_task_response(grantee),
                target.grant(grantee, "states:ListExecutions"),  # a run in flight is not started twice
            ),
            ("_database", Access.READ): lambda: self._grant_glue(target, grantee, GLUE_READ_ACTIONS),
            ("_database", Access.READ_WRITE): lambda: self._grant_glue(target, grantee, GLUE_TABLE_ACTIONS),
            ("_executions", Access.HISTORY): lambda: grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["states:DescribeExecution", "states:GetExecutionHistory"], resources=[target]
                )
            ),
            ("_role", Access.PASS): lambda: target.grant_pass_role(grantee),
            ("_prefix", Access.REGISTER): lambda: self._grant_job_definitions(target, grantee),
            ("_bus", Access.PUT): lambda: target.grant_put_events_to(grantee),
            ("_topic", Access.PUT): lambda: target.grant_publish(grantee),
            ("_key", Access.MAC): lambda: target.grant(grantee, "kms:GenerateMac"),
        }
        grant = grants.get((_kind(resource), access))
        if grant is None:
            raise UnknownResourceError(f"no '{access}' access to {resource}")
        grant()
        if resource == REGISTRY_TABLE:  # its audit records: read with it, and only ever appended
            self.audit_table.grant_read_data(grantee)
            if access is Access.READ_WRITE:
                self.audit_table.grant(grantee, "dynamodb:PutItem")

    def _grant_job_definitions(self, prefix: str, grantee: iam.IGrantable) -> None:
        """Register job definitions named `<prefix>-*` (describing them has no resource-level permission)."""
        stack = Stack.of(cast(Construct, grantee))  # the grantee's stack: its region and account
        definitions = stack.format_arn(service="batch", resource="job-definition", resource_name=f"{prefix}-*")
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["batch:RegisterJobDefinition"], resources=[definitions])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["batch:DescribeJobDefinitions"], resources=["*"])
        )

    @staticmethod
    def _grant_glue(database: glue.CfnDatabase, grantee: iam.IGrantable, actions: tuple[str, ...]) -> None:
        """Act on the tables (and their partitions) of one Glue database: the catalog, the database, its tables."""
        stack = Stack.of(database)
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(actions),
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(service="glue", resource="database", resource_name=database.ref),
                    stack.format_arn(service="glue", resource="table", resource_name=f"{database.ref}/*"),
                ],
            )
        )


# (GetPartition and BatchGetPartition: what Athena asks for, reading a partitioned table with the caller's rights)
GLUE_READ_ACTIONS = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetPartitions",
    "glue:GetPartition",
    "glue:BatchGetPartition",
)
GLUE_TABLE_ACTIONS = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:CreatePartition",
    "glue:BatchCreatePartition",
)


KINDS = (
    "_table", "_bucket", "_state_machine", "_topic", "_database", "_executions", "_role", "_log_group", "_prefix",
    "_bus", "_key",
)  # fmt: skip


def _kind(resource: str) -> str:
    """Resources are named by kind: `*_table`, `*_bucket`, `*_state_machine`, `*_topic`, ..."""
    kind = next((k for k in KINDS if resource.endswith(k)), None)
    if kind is None:
        raise UnknownResourceError(f"'{resource}' is not named by its kind {KINDS}")
    return kind
