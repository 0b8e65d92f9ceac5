"""Every Lambda function and the Batch training job: code, settings, layers, messages, sizing and access.

A function runs `functions/<name>/handler.py:handler` with the layers named here. Its environment
has one variable per field of its settings model: resource fields (`registry_table`,
`artifacts_bucket`, `training_state_machine_arn`, ...) get the deployed resource's name or ARN,
tunable ones their default. `access` is all it may do to each resource (least privilege, granted
by the CDK app and asserted on the template by the infra tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlcore.catalog.messages import (
    ApprovalRequest,
    ApprovalResult,
    AuditExported,
    BatchManifest,
    BatchPlan,
    BatchTick,
    ChunkResult,
    CountPartRequest,
    DriftCheckResult,
    DueModel,
    EvaluateRequest,
    EvaluateResult,
    FailedStep,
    FailureReport,
    ListDueRequest,
    ListDueResult,
    MaterializeRun,
    PartResult,
    PlanBatchRequest,
    PromoteRequest,
    PromoteResult,
    PublishedEvents,
    RecordRunRequest,
    RecordRunResult,
    RegisterRequest,
    RegisterResult,
    RegistryStreamBatch,
    RetrainingRequest,
    RetrainingResult,
    ScheduledBatchResult,
    TrainingResult,
    ValidateRequest,
    ValidateResult,
)
from mlcore.catalog.settings import (
    CountPartSettings,
    DriftCheckSettings,
    EvaluateSettings,
    ExportAuditSettings,
    GovernSettings,
    ListDueSettings,
    MaterializeFeaturesSettings,
    PlanBatchSettings,
    PredictSettings,
    PromoteSettings,
    PublishBatchSettings,
    PublishRegistryEventsSettings,
    RecordRunSettings,
    RegisterSettings,
    ReportFailureSettings,
    RequestApprovalSettings,
    RequestRetrainingSettings,
    ScoreBatchSettings,
    Settings,
    StartScheduledBatchesSettings,
    TrainSettings,
    ValidateSettings,
)


class Access(StrEnum):
    """What a function may do to a resource."""

    READ = "read"  # tables: get/query/scan; buckets: get/list; Glue databases: their tables and partitions
    READ_MODELS = "read_models"  # buckets: get the runs' model.onnx files, nothing else (serving)
    PUT = "put"  # buckets: put objects only; event buses: put events; topics: publish
    READ_PUT_QUERIES = "read_put_queries"  # buckets: get/list, and put under queries/ only (an Athena query's result)
    READ_WRITE = "read_write"  # tables: and put/update/delete; buckets: and put (never delete: versions stay)
    # buckets: read_write, and delete a batch's outputs (catalog.BATCH_OUTPUT_PATTERNS) to withdraw a failed batch's
    # (a delete marker: the bucket keeps their versions)
    WITHDRAW_BATCHES = "withdraw_batches"
    START = "start"  # state machines: start executions
    PASS = "pass"  # roles: pass them to the jobs it defines
    REGISTER = "register"  # job definitions under a name prefix: register (and describe) them
    HISTORY = "history"  # executions: describe them and read their history
    MAC = "mac"  # HMAC keys: generate a MAC
    CALLBACK = "callback"  # state machines: complete the task tokens their executions wait with
    START_AND_CALLBACK = "start_and_callback"  # state machines: both


# The resources a settings field may name: its value is the resource's name (ARN for `_arn` fields).
REGISTRY_TABLE = "registry_table"
DATA_BUCKET = "data_bucket"
ARTIFACTS_BUCKET = "artifacts_bucket"
CAPTURE_BUCKET = "capture_bucket"
TRAINING_STATE_MACHINE = "training_state_machine"
BATCH_STATE_MACHINE = "batch_state_machine"  # the CLI and the schedule's tick start batches with it
RUNS_DATABASE = "runs_database"  # the Glue database of the run export
ONLINE_FEATURES_TABLE = "online_features_table"  # the feature store's online store (DynamoDB)
FEATURES_DATABASE = "features_database"  # the Glue database of the feature views' offline stores
DATASETS_DATABASE = "datasets_database"  # the Glue database whose tables a spec may train on (data.source)
AUDIT_BUCKET = "audit_bucket"  # Object Lock: the audit table's records, exported as JSON lines
ALERTS_TOPIC = "alerts_topic"  # failed runs, drift, a champion taken out of serving
EVENT_BUS = "event_bus"  # the account's default bus: the registry's events
REQUEST_ID_KEY = "request_id_key"  # the KMS HMAC key request ids are signed with (derived once per container)
TRAINING_EXECUTIONS = "training_executions"  # the training pipeline's executions (their history)
# A model's own training image (`training.image`) runs as a job definition validate registers, under
# this name prefix, with these roles (the image's, and Fargate's for the pull and the logs) and log group.
IMAGE_JOB_PREFIX = "image_job_prefix"
IMAGE_JOB_ROLE = "image_job_role"
IMAGE_EXECUTION_ROLE = "image_execution_role"
IMAGE_LOG_GROUP = "image_log_group"
# Settings fields the CDK app fills with a fact of the build, not a resource: the app's commit, and
# whether the deployment has the EC2 GPU queue (the `mlops:gpuJobs` context flag).
CODE_VERSION = "code_version"
GPU_JOBS = "gpu_jobs"
SEPARATION_OF_DUTIES = "separation_of_duties"  # `mlops:separationOfDuties`: a run's starter never approves its version


# A deployed function's or layer's Description names what it is (tests, the local target and the benchmarks map
# it back): `mlops:function=<name>`, the catalog function of `functions/<name>/`; `mlops:image-function=<name>`, a
# job's function (`JobFunction`) of the training image; `mlops:layer=<name> <its requirements>`, a layer.
FUNCTION_TAG = "mlops:function="
IMAGE_FUNCTION_TAG = "mlops:image-function="
LAYER_TAG = "mlops:layer="


def tagged(description: str, tag: str) -> str | None:
    """The name a Description gives in its word that starts with `tag`, or None when no word does (or names nothing)."""
    word = next((word for word in description.split() if word.startswith(tag)), None)
    if word is None:
        return None
    return word.removeprefix(tag) or None


def resource_of(settings_field: str) -> str:
    """The resource a settings field names (`training_state_machine_arn` names `training_state_machine`)."""
    return settings_field.removesuffix("_arn")


@dataclass(frozen=True)
class Function:
    """One Lambda function."""

    name: str  # functions/<name>/, its construct id and its POWERTOOLS_SERVICE_NAME
    settings: type[Settings]
    layers: tuple[str, ...]  # infra/constructs/layers.py LAYER_PACKAGES
    access: Mapping[str, Access]
    event: type[Any] | None = None  # None: an API Gateway proxy event (catalog.routes)
    result: type[Any] | None = None
    memory_mb: int = 512
    timeout_seconds: int = 30
    ephemeral_mb: int = 512  # /tmp: Lambda's default, or room for the files a function streams through disk
    handler: str = "handler.handler"


@dataclass(frozen=True)
class JobFunction:
    """A Lambda function of the training image (a container image function) that does a job's work when it is
    small enough for Lambda (15 minutes, 10 GB of memory and of disk): no Batch job to wait for. Its settings and
    access are its job's; it has no functions/<name>/ folder."""

    name: str  # its construct id and its Description's `mlops:image-function=<name>`
    command: tuple[str, ...]  # the image entrypoint's arguments: serve Lambda's Runtime API
    handler: str  # what the command serves, as `module.function` of the entrypoint's folder (the local target's)
    memory_mb: int
    timeout_seconds: int
    ephemeral_mb: int


@dataclass(frozen=True)
class Job:
    """A Batch job of the training image: its entrypoint's command, settings and container overrides."""

    name: str
    settings: type[Settings]
    access: Mapping[str, Access]
    result: type[Any]
    vcpus: float
    memory_gib: int
    timeout_hours: int
    retries: int
    # Set per run by the state machine (a search's trial jobs also get TRIAL and TRIAL_PARAMS).
    overrides: tuple[str, ...] = field(default=("MODEL_NAME", "RUN_ID", "TRIAL", "TRIAL_PARAMS"))
    command: tuple[str, ...] = ()  # the entrypoint's arguments: none trains
    description: str = ""  # of its role
    function: JobFunction | None = None  # the same work in Lambda, for small pieces of it
    disk_gib: int | None = None  # Fargate's ephemeral storage, 21 to 200 GiB; None: its default, 20 GiB


# The functions' names: their folder under functions/, construct ids, POWERTOOLS_SERVICE_NAME.
VALIDATE, EVALUATE, REGISTER, PROMOTE = "validate", "evaluate", "register", "promote"
PREDICT = "predict"  # the function behind the API's routes (catalog.routes)
LIST_DUE = "list_due"
REQUEST_RETRAINING = "request_retraining"  # every retraining trigger goes through it
REPORT_FAILURE = "report_failure"  # shared by the state machines: a failed step in words
RECORD_RUN = "record_run"  # every run's record, whatever became of it
DRIFT_CHECK = "drift_check"  # its fleet-wide metrics feed the drift and degradation alarms
PLAN_BATCH, PUBLISH_BATCH = "plan_batch", "publish_batch"  # either side of a batch's scoring jobs
COUNT_DATASET_PART = "count_dataset_part"  # a Distributed Map's child: one part of a large dataset
START_SCHEDULED_BATCHES = "start_scheduled_batches"  # at each tick, the batches whose batch.schedule fired
PUBLISH_REGISTRY_EVENTS = "publish_registry_events"  # the registry stream's changes as EventBridge events
MATERIALIZE_FEATURES = "materialize_features"  # at each tick, every online view's new rows into the online store
EXPORT_AUDIT = "export_audit"  # the audit table's stream, as JSON lines in the Object Lock bucket
REQUEST_APPROVAL = "request_approval"  # a pending version's pipeline waits for a person's decision (task token)
GOVERN = "govern"  # the IAM-authorised governance routes (catalog.routes): status changes, alias moves, audit
R, W, P = Access.READ, Access.READ_WRITE, Access.PUT
CORE, DATA, SERVING = ("core",), ("core", "data"), ("core", "serving")
FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function(
            VALIDATE,
            ValidateSettings,
            DATA,
            {
                REGISTRY_TABLE: R,
                DATA_BUCKET: Access.READ_PUT_QUERIES,
                DATASETS_DATABASE: R,
                ARTIFACTS_BUCKET: W,
                CAPTURE_BUCKET: R,
                IMAGE_JOB_PREFIX: Access.REGISTER,
                IMAGE_JOB_ROLE: Access.PASS,
                IMAGE_EXECUTION_ROLE: Access.PASS,
            },
            ValidateRequest,
            ValidateResult,
            memory_mb=1024,
            timeout_seconds=60,
        ),
        Function(
            COUNT_DATASET_PART,
            CountPartSettings,
            DATA,
            {REGISTRY_TABLE: R, DATA_BUCKET: R, ARTIFACTS_BUCKET: W},
            CountPartRequest,
            PartResult,
            memory_mb=2048,
            timeout_seconds=900,
            ephemeral_mb=4096,  # a part's largest file, and its split, on disk
        ),
        Function(
            EVALUATE,
            EvaluateSettings,
            CORE,
            {REGISTRY_TABLE: W, ARTIFACTS_BUCKET: W},
            EvaluateRequest,
            EvaluateResult,
        ),
        Function(
            REGISTER,
            RegisterSettings,
            CORE,
            {REGISTRY_TABLE: W, ARTIFACTS_BUCKET: R},
            RegisterRequest,
            RegisterResult,
        ),
        Function(PROMOTE, PromoteSettings, CORE, {REGISTRY_TABLE: W}, PromoteRequest, PromoteResult),
        Function(
            PREDICT,
            PredictSettings,
            SERVING,
            {
                REGISTRY_TABLE: R,
                ARTIFACTS_BUCKET: Access.READ_MODELS,
                CAPTURE_BUCKET: P,
                ONLINE_FEATURES_TABLE: R,
                REQUEST_ID_KEY: Access.MAC,
            },
            memory_mb=1024,
            timeout_seconds=29,  # API Gateway's integration timeout
        ),
        Function(EXPORT_AUDIT, ExportAuditSettings, CORE, {AUDIT_BUCKET: P}, RegistryStreamBatch, AuditExported),
        Function(
            REQUEST_APPROVAL,
            RequestApprovalSettings,
            CORE,
            {REGISTRY_TABLE: W, ALERTS_TOPIC: P},
            ApprovalRequest,
            ApprovalResult,
        ),
        # It starts runs (recording their starter), reads who started one, and completes the task token a pipeline
        # waits with for the decision it records.
        Function(
            GOVERN,
            GovernSettings,
            CORE,
            {
                REGISTRY_TABLE: W,
                ALERTS_TOPIC: P,
                TRAINING_STATE_MACHINE: Access.START_AND_CALLBACK,
                TRAINING_EXECUTIONS: Access.HISTORY,
            },
        ),
        Function(
            REPORT_FAILURE,
            ReportFailureSettings,
            CORE,
            {ARTIFACTS_BUCKET: R},
            FailedStep,
            FailureReport,
        ),
        Function(
            RECORD_RUN,
            RecordRunSettings,
            DATA,
            {REGISTRY_TABLE: W, ARTIFACTS_BUCKET: W, RUNS_DATABASE: W, TRAINING_EXECUTIONS: Access.HISTORY},
            RecordRunRequest,
            RecordRunResult,
            memory_mb=1024,
            timeout_seconds=120,
        ),
        # W: a monitor run claims each model it checks in the model's monitor state
        Function(LIST_DUE, ListDueSettings, CORE, {REGISTRY_TABLE: W}, ListDueRequest, ListDueResult),
        Function(
            DRIFT_CHECK,
            DriftCheckSettings,
            DATA,
            {REGISTRY_TABLE: W, ARTIFACTS_BUCKET: W, CAPTURE_BUCKET: R},
            DueModel,
            DriftCheckResult,
            memory_mb=1024,
            timeout_seconds=60,
        ),
        Function(
            REQUEST_RETRAINING,
            RequestRetrainingSettings,
            DATA,
            {
                REGISTRY_TABLE: W,
                DATA_BUCKET: R,
                DATASETS_DATABASE: R,
                CAPTURE_BUCKET: R,
                TRAINING_STATE_MACHINE: Access.START,
            },
            RetrainingRequest,
            RetrainingResult,
            memory_mb=1024,
            timeout_seconds=60,
        ),
        Function(
            PLAN_BATCH,
            PlanBatchSettings,
            CORE,
            {REGISTRY_TABLE: R, DATA_BUCKET: W},
            PlanBatchRequest,
            BatchPlan,
            timeout_seconds=120,
        ),
        Function(
            PUBLISH_BATCH,
            PublishBatchSettings,
            CORE,
            {DATA_BUCKET: Access.WITHDRAW_BATCHES, RUNS_DATABASE: W},
            BatchPlan,
            BatchManifest,
            timeout_seconds=120,
        ),
        Function(
            START_SCHEDULED_BATCHES,
            StartScheduledBatchesSettings,
            CORE,
            {REGISTRY_TABLE: W, BATCH_STATE_MACHINE: Access.START},
            BatchTick,
            ScheduledBatchResult,
            timeout_seconds=60,
        ),
        Function(
            PUBLISH_REGISTRY_EVENTS,
            PublishRegistryEventsSettings,
            CORE,
            {EVENT_BUS: P},  # the stream's read is the event source's own grant
            RegistryStreamBatch,
            PublishedEvents,
            timeout_seconds=60,
        ),
        Function(
            MATERIALIZE_FEATURES,
            MaterializeFeaturesSettings,
            DATA,
            {REGISTRY_TABLE: W, DATA_BUCKET: R, ONLINE_FEATURES_TABLE: W},
            BatchTick,
            MaterializeRun,
            memory_mb=1024,
            timeout_seconds=900,
        ),
    )
}

TRAINING_JOB = Job(
    "train",
    TrainSettings,
    {REGISTRY_TABLE: R, ARTIFACTS_BUCKET: W},
    TrainingResult,
    vcpus=2,
    memory_gib=8,
    timeout_hours=4,
    retries=2,
    description="Training job: reads the registry and the run's data, writes the run's artifacts",
)

SCORE_CHUNK = "score_chunk"  # the scoring job's Lambda function: the chunks the plan sizes for Lambda
# One chunk of a batch: reads the chunk's files, writes its predictions and rejects beside them.
SCORING_JOB = Job(
    "score",
    ScoreBatchSettings,
    {REGISTRY_TABLE: R, ARTIFACTS_BUCKET: R, DATA_BUCKET: W},
    ChunkResult,
    vcpus=1,
    memory_gib=4,
    timeout_hours=2,
    retries=1,
    overrides=("PLAN_KEY", "CHUNK"),
    command=("score",),
    disk_gib=200,  # Fargate's most: a chunk's largest input file and its outputs are on disk at once
    description="Batch scoring job: reads the registry and the model, reads a batch's input and writes its output",
    # 3008 MB: the most a new account may give a function (about 2 vCPUs); /tmp holds a chunk's files and outputs
    function=JobFunction(
        SCORE_CHUNK,
        command=("lambda",),
        handler="entrypoint.lambda_handler",
        memory_mb=3008,
        timeout_seconds=900,
        ephemeral_mb=10240,
    ),
)
# The jobs' Lambda functions, by name.
JOB_FUNCTIONS: dict[str, JobFunction] = {
    job.function.name: job.function for job in (TRAINING_JOB, SCORING_JOB) if job.function is not None
}
