"""Typed settings, one model per deployed function or job.

The CDK constructs build each function's environment from these field names, and an infra test
asserts the synthesized keys equal them. Resource names have no defaults: a missing variable is
an error at start-up, not a silent fallback.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlcore.catalog import limits


class Settings(BaseModel):
    """Settings read from environment variables named like the fields, in upper case.

    (pydantic-settings would do the same at the cost of ~0.3 s of imports on every cold start.)
    """

    # Built on first use: a function builds only its own settings model.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    def __init__(self, **values: Any) -> None:
        from_env = {name: os.environ[name.upper()] for name in type(self).model_fields if name.upper() in os.environ}
        super().__init__(**{**from_env, **values})


class ValidateSettings(Settings):
    registry_table: str
    data_bucket: str
    datasets_database: str  # where a spec's data.source.glue_table lives
    artifacts_bucket: str
    capture_bucket: str  # labelled served rows, for retrain.include_feedback
    # A model's own training image: the job definition validate registers for it
    image_job_prefix: str
    image_job_role_arn: str
    image_execution_role_arn: str
    image_log_group: str
    gpu_jobs: bool  # the deployment has the EC2 GPU queue (training.resources.gpu)
    # A folder dataset this large is checked in parts by a Distributed Map (`data.distributed: auto`)
    distributed_min_mb: float = 512
    part_mb: float = 128  # a part's files, about: one child's work


class CountPartSettings(Settings):
    registry_table: str
    data_bucket: str
    artifacts_bucket: str
    batch_rows: int = limits.READ_BATCH_ROWS


class TrainSettings(Settings):
    registry_table: str
    artifacts_bucket: str
    code_version: str  # recorded as the image's version where the job cannot read its digest (locally)


class EvaluateSettings(Settings):
    registry_table: str
    artifacts_bucket: str


class RegisterSettings(Settings):
    registry_table: str
    artifacts_bucket: str
    code_version: str  # the commit the app was synthesized from: a version's lineage


class PromoteSettings(Settings):
    registry_table: str


class ExportAuditSettings(Settings):
    audit_bucket: str  # Object Lock: the audit records as JSON lines, kept for the retention the context sets


class RequestApprovalSettings(Settings):
    registry_table: str
    alerts_topic_arn: str  # where a person is asked for a decision


class GovernSettings(Settings):
    registry_table: str
    alerts_topic_arn: str  # a champion taken out of serving is said there
    training_state_machine_arn: str  # runs started through the API; a run's execution (its starter) by its id
    separation_of_duties: bool  # `mlops:separationOfDuties`: the principal that started a run never approves it


class PredictSettings(Settings):
    registry_table: str
    artifacts_bucket: str
    capture_bucket: str
    online_features_table: str
    request_id_key: str  # the KMS HMAC key the request ids' secret is derived from (feedback integrity)
    max_rows: int = limits.MAX_ROWS
    max_body_bytes: int = limits.MAX_BODY_BYTES
    alias_ttl_seconds: float = limits.ALIAS_TTL_SECONDS
    capture_max_rows: int = limits.CAPTURE_MAX_ROWS
    capture_max_age_seconds: float = limits.CAPTURE_MAX_AGE_SECONDS


class ReportFailureSettings(Settings):
    artifacts_bucket: str


class ListDueSettings(Settings):
    registry_table: str


class DriftCheckSettings(Settings):
    registry_table: str
    artifacts_bucket: str
    capture_bucket: str


class RequestRetrainingSettings(Settings):
    registry_table: str
    data_bucket: str  # the newest dataset's fingerprint
    datasets_database: str  # or, for a spec's data.source.glue_table, the table's
    capture_bucket: str  # the labelled served rows', for retrain.include_feedback
    training_state_machine_arn: str


class RecordRunSettings(Settings):
    registry_table: str
    artifacts_bucket: str
    runs_database: str  # the Glue database of the run export
    code_version: str  # the commit the app was synthesized from (a build fact, not a resource)


class PlanBatchSettings(Settings):
    registry_table: str
    data_bucket: str  # batch input and output (the only bucket a batch may read or write)


class PublishRegistryEventsSettings(Settings):
    event_bus: str  # where the registry's events go (the account's default bus)


class MaterializeFeaturesSettings(Settings):
    registry_table: str
    data_bucket: str  # the views' offline stores
    online_features_table: str


class StartScheduledBatchesSettings(Settings):
    registry_table: str
    batch_state_machine_arn: str


class ScoreBatchSettings(Settings):
    registry_table: str
    artifacts_bucket: str  # the version's model
    data_bucket: str
    batch_rows: int = limits.READ_BATCH_ROWS


class PublishBatchSettings(Settings):
    data_bucket: str
    runs_database: str  # the Glue database the predictions table is registered in


def tunable_defaults(model: type[Settings]) -> dict[str, object]:
    """The fields with a default (limits, timings): what a deployment sets unless it overrides them."""
    return {name: field.default for name, field in model.model_fields.items() if not field.is_required()}


def env_keys(model: type[Settings]) -> list[str]:
    """Environment variable names a settings model reads, as the infrastructure must set them."""
    return sorted(name.upper() for name in model.model_fields)
