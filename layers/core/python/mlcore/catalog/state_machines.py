"""The state machines: their ASL file and what each `${Placeholder}` in it resolves to.

The CDK app fills the placeholders (`definition_substitutions`) and grants the state machine what
they name: invoking a function, submitting to the job queue, publishing to the alerts topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlcore.catalog.functions import (
    ALERTS_TOPIC,
    COUNT_DATASET_PART,
    DATASETS_DATABASE,
    DRIFT_CHECK,
    EVALUATE,
    LIST_DUE,
    MATERIALIZE_FEATURES,
    PLAN_BATCH,
    PROMOTE,
    PUBLISH_BATCH,
    RECORD_RUN,
    REGISTER,
    REPORT_FAILURE,
    REQUEST_APPROVAL,
    REQUEST_RETRAINING,
    SCORE_CHUNK,
    START_SCHEDULED_BATCHES,
    VALIDATE,
)


@dataclass(frozen=True)
class FunctionArn:
    """The ARN of a catalog function, which the state machine invokes."""

    function: str


@dataclass(frozen=True)
class ResourceArn:
    """The ARN of a platform resource: `job_queue`, `job_definition`, `alerts_topic`; or the name of one that
    is called by name (`datasets_work_group`, `datasets_database`)."""

    resource: str


JOB_QUEUE = "job_queue"
SPOT_JOB_QUEUE = "spot_job_queue"
GPU_JOB_QUEUE = "gpu_job_queue"
JOB_DEFINITION = "job_definition"
GPU_JOB_DEFINITION = "gpu_job_definition"
SCORING_JOB_DEFINITION = "scoring_job_definition"
DATASETS_WORK_GROUP = "datasets_work_group"  # the Athena work group a spec's data.source.athena_sql runs in


@dataclass(frozen=True)
class StateMachine:
    name: str  # statemachines/<name>.asl.json
    substitutions: Mapping[str, FunctionArn | ResourceArn]

    @property
    def functions(self) -> list[str]:
        return [v.function for v in self.substitutions.values() if isinstance(v, FunctionArn)]


TRAINING_PIPELINE = StateMachine(
    "training",
    {
        "ValidateFunctionArn": FunctionArn(VALIDATE),
        "CountDatasetPartFunctionArn": FunctionArn(COUNT_DATASET_PART),
        "DatasetsWorkGroup": ResourceArn(DATASETS_WORK_GROUP),
        "DatasetsDatabaseName": ResourceArn(DATASETS_DATABASE),  # the database the query runs in
        "JobQueueArn": ResourceArn(JOB_QUEUE),  # JOB_QUEUES: fargate, fargate_spot, ec2_gpu
        "SpotJobQueueArn": ResourceArn(SPOT_JOB_QUEUE),
        "GpuJobQueueArn": ResourceArn(GPU_JOB_QUEUE),
        "JobDefinitionArn": ResourceArn(JOB_DEFINITION),  # JOB_DEFINITIONS: fargate, ec2_gpu
        "GpuJobDefinitionArn": ResourceArn(GPU_JOB_DEFINITION),
        "EvaluateFunctionArn": FunctionArn(EVALUATE),
        "RegisterFunctionArn": FunctionArn(REGISTER),
        "PromoteFunctionArn": FunctionArn(PROMOTE),
        "RequestApprovalFunctionArn": FunctionArn(REQUEST_APPROVAL),
        "ReportFailureFunctionArn": FunctionArn(REPORT_FAILURE),
        "RecordRunFunctionArn": FunctionArn(RECORD_RUN),
        "AlertsTopicArn": ResourceArn(ALERTS_TOPIC),
    },
)
MONITOR_PIPELINE = StateMachine(
    "monitor",
    {
        "ListDueFunctionArn": FunctionArn(LIST_DUE),
        "DriftCheckFunctionArn": FunctionArn(DRIFT_CHECK),
        "RequestRetrainingFunctionArn": FunctionArn(REQUEST_RETRAINING),
        "ReportFailureFunctionArn": FunctionArn(REPORT_FAILURE),
        "AlertsTopicArn": ResourceArn(ALERTS_TOPIC),
    },
)
# The schedule's tick and data drops reach the request step here (a data drop waits out its debounce).
RETRAINING = StateMachine(
    "retraining",
    {
        "RequestRetrainingFunctionArn": FunctionArn(REQUEST_RETRAINING),
        "ReportFailureFunctionArn": FunctionArn(REPORT_FAILURE),
        "AlertsTopicArn": ResourceArn(ALERTS_TOPIC),
    },
)
# Batch scoring: a plan, a Distributed Map of scoring jobs over its chunks, and the manifest.
BATCH_SCORING = StateMachine(
    "batch_scoring",
    {
        "PlanBatchFunctionArn": FunctionArn(PLAN_BATCH),
        "JobQueueArn": ResourceArn(JOB_QUEUE),
        "ScoringJobDefinitionArn": ResourceArn(SCORING_JOB_DEFINITION),
        "ScoreChunkFunctionArn": FunctionArn(SCORE_CHUNK),  # the scoring job's image, as a Lambda function
        "PublishBatchFunctionArn": FunctionArn(PUBLISH_BATCH),
        "ReportFailureFunctionArn": FunctionArn(REPORT_FAILURE),
        "AlertsTopicArn": ResourceArn(ALERTS_TOPIC),
    },
)
# The platform's tick: start the batches whose batch.schedule fired.
BATCH_SCHEDULE = StateMachine(
    "batch_schedule",
    {
        "StartScheduledBatchesFunctionArn": FunctionArn(START_SCHEDULED_BATCHES),
        "ReportFailureFunctionArn": FunctionArn(REPORT_FAILURE),
        "AlertsTopicArn": ResourceArn(ALERTS_TOPIC),
    },
)
# The platform's tick: bring every online feature view's store up to date, and say how fresh each is.
FEATURE_MATERIALIZATION = StateMachine(
    "feature_materialization",
    {
        "MaterializeFeaturesFunctionArn": FunctionArn(MATERIALIZE_FEATURES),
        "ReportFailureFunctionArn": FunctionArn(REPORT_FAILURE),
        "AlertsTopicArn": ResourceArn(ALERTS_TOPIC),
    },
)
STATE_MACHINES: dict[str, StateMachine] = {
    m.name: m
    for m in (TRAINING_PIPELINE, MONITOR_PIPELINE, RETRAINING, BATCH_SCORING, BATCH_SCHEDULE, FEATURE_MATERIALIZATION)
}
