"""The stack outputs by which the `mlops` CLI (and the local target) find a deployment.

`resource` is the name the CLI knows the resource by (`infra.operations.Resources`); `key` is the
CloudFormation output key. Each stack emits the outputs of the resources it creates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlcore.catalog.routes import GOVERNANCE_POLICIES

DEFAULT_PREFIX = "mlops"  # mlops:prefix, and MLOPS_PREFIX for the CLI
STACKS = ("Data", "Training", "Serving", "Monitoring")  # the app's stacks, by their part of the name


def stack_name(prefix: str, part: str) -> str:
    """A stack's name (and CDK id), `Mlops<Part>`, prefixed unless the prefix is the default one: `TeamxMlopsData`."""
    base = f"Mlops{part}"
    return base if prefix == DEFAULT_PREFIX else "".join(word.capitalize() for word in prefix.split("-")) + base


@dataclass(frozen=True)
class Output:
    key: str
    resource: str
    description: str
    required: bool = True  # False: only some deployments have it


OUTPUTS: tuple[Output, ...] = (
    Output("RegistryTable", "registry_table", "The model registry (DynamoDB)"),
    Output("DataBucket", "data_bucket", "Datasets to train on: datasets/<model>/"),
    Output("ArtifactsBucket", "artifacts_bucket", "Pipeline runs, models, profiles and drift reports"),
    Output("CaptureBucket", "capture_bucket", "Captured traffic and feedback"),
    Output("TrainingStateMachineArn", "training_state_machine", "The training pipeline"),
    Output("MonitorStateMachineArn", "monitor_state_machine", "The scheduled monitor"),
    Output("RetrainingStateMachineArn", "retraining_state_machine", "Retraining requests: schedules, data drops"),
    # not required: a deployment from before batch scoring still serves every other verb
    Output("BatchScoringStateMachineArn", "batch_state_machine", "Batch scoring: mlops batch predict", required=False),
    Output(
        "AlertsTopic", "alerts_topic", "Alerts: failed runs, drift, a champion taken out of serving", required=False
    ),
    # not required: deployments from before the feature store
    Output(
        "OnlineFeaturesTable", "online_features_table", "The feature store's online store (DynamoDB)", required=False
    ),
    Output(
        "FeaturesDatabase", "features_database", "The feature views' offline stores (Glue database)", required=False
    ),
    # not required: deployments from before Glue table datasets
    Output("DatasetsDatabase", "datasets_database", "Glue tables a spec may train on (data.source)", required=False),
    # not required: deployments from before this output (the database is as old as the run export)
    Output("RunExportDatabase", "runs_database", "The run export: its Glue database (table runs)", required=False),
    # not required: deployments from before the audit table
    Output("AuditBucket", "audit_bucket", "The audit trail as JSON lines, under Object Lock", required=False),
    Output("ApiUrl", "api_url", "Base URL of the inference API", required=False),
    Output("ApiKeyId", "api_key_id", "aws apigateway get-api-key --include-value", required=False),
    # The governance routes' managed policies, for every model (attach them to people's roles or groups).
    *(
        Output(
            f"{policy}PolicyArn",
            re.sub(r"(?<!^)([A-Z])", r"_\1", policy).lower() + "_policy",
            f"Managed policy {policy}: " + ", ".join(f"{r.method} {r.path}" for r in routes),
            required=False,
        )
        for policy, routes in GOVERNANCE_POLICIES.items()
    ),
)
OUTPUT_KEYS = {output.resource: output.key for output in OUTPUTS}
