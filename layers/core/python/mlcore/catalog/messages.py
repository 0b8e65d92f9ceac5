"""Contracts between the steps of the state machines: task inputs and outputs."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class _Message(BaseModel):
    # Built on first use: a function pays only for the messages it parses. A metric undefined on its rows (ROC AUC
    # of one class) is NaN, written "NaN", which reads back as NaN (JSON's null would not read as a number).
    model_config = ConfigDict(extra="forbid", defer_build=True, ser_json_inf_nan="strings")


class Artifact(_Message):
    """An object in S3 with the SHA-256 of its bytes."""

    uri: str
    sha256: str
    size: int


class SignatureField(_Message):
    """One input of a served model: its name, tensor type, nullability and (when fixed) its categories."""

    name: str
    type: Literal["float", "string"] = Field(description="`float` or `string`.")
    nullable: bool
    categories: list[str] | None = Field(
        default=None, description="The only values accepted, when the spec fixes them."
    )
    minimum: float | None = Field(default=None, description="The smallest number accepted, when the spec sets one.")
    maximum: float | None = Field(default=None, description="The largest number accepted, when the spec sets one.")
    integer: bool = Field(default=False, description="Only whole numbers are accepted (the spec's `integer` type).")

    @property
    def kind(self) -> str:
        """The spec's feature type that gives this input (spec.FeatureType's value)."""
        return "categorical" if self.type == "string" else "integer" if self.integer else "numeric"


# What starts a training run: a person, or one of the platform's retraining triggers.
Trigger = Literal["manual", "schedule", "new_data", "drift", "degradation"]


class PipelineInput(_Message):
    """Input of the training state machine."""

    model_name: str
    dataset_uri: str | None = None
    reason: str = "manual"
    trigger: Trigger = "manual"
    event_id: str | None = None  # the event that asked for the run (EventBridge's id, a drift check's)
    force: bool = False  # train even when there is nothing new to learn
    # The principal that started the run through the API's IAM route (POST /models/{name}/runs); empty: the platform
    # (a schedule, new data, drift) or a direct StartExecution. With separation of duties, never its approver.
    started_by: str = ""


class DataSource(_Message):
    """Where a run's training rows came from, and how many."""

    source: Literal["dataset", "feedback", "view"]
    uri: str
    sha256: (
        str  # of the dataset file; of the labelled rows' identities and labels, for feedback; of a view's files read
    )
    rows: int
    since: str | None = None  # feedback: where its window of served rows starts (the next run on the dataset's too)


class ValidateRequest(_Message):
    request: PipelineInput
    run_id: str
    merge: bool = False  # the dataset was counted in parts (PartsPlan): merge them
    queried: bool = False  # the spec's Athena query ran (QueryPlan): what it unloaded is the dataset


class QueryPlan(_Message):
    """Validate's answer for a spec whose dataset is an Athena query: the UNLOAD the state machine runs."""

    model_name: str
    run_id: str
    request: PipelineInput
    query: str


class PartsPlan(_Message):
    """Validate's answer for a dataset it checks in parts: the Distributed Map's items (`[{"part": ...}]`)."""

    model_name: str
    run_id: str
    request: PipelineInput
    bucket: str  # the artifacts bucket, where the plan and its items are
    items_key: str
    parts: int
    files: int
    input_bytes: int


class CountPartRequest(_Message):
    """One child of the Distributed Map: the part of the run's plan it counts, copies and splits."""

    model_name: str
    run_id: str
    part: str


class PartResult(_Message):
    """What a part held: its rows, its files' copies (path in the dataset, SHA-256, size), its split."""

    part: str
    rows: int
    files: list[tuple[str, str, int]]
    train: Artifact
    holdout: Artifact
    train_rows: int
    holdout_rows: int
    # per feature view its labels were joined with: each file read (key, SHA-256, rows)
    view_files: dict[str, list[tuple[str, str, int]]] = Field(default_factory=dict)
    label_times: list[datetime] = Field(default_factory=list)  # with feature views: its oldest and newest label time


class TrialPlan(_Message):
    """One trial of a hyperparameter search, as its Batch job's environment carries it (text)."""

    trial: str  # its number
    params: str  # its parameters, as JSON


class JobPlan(_Message):
    """Where and at what size the run's Batch jobs run: indexes into the state machine's queues and
    job definitions, and the container's `ResourceRequirements`."""

    queue: int = 0
    definition: int = 0  # an index into the training image's job definitions (JOB_DEFINITIONS)
    resources: list[dict[str, str]] = Field(default_factory=list)
    image: ImageJob | None = None  # the model's own training image, when the spec names one


class ImageJob(_Message):
    """The job of a model's own training image: its job definition and its environment (the contract's inputs)."""

    definition: str
    environment: list[dict[str, str]]  # [{"Name": ..., "Value": ...}], as Batch's ContainerOverrides take them


class ValidateResult(_Message):
    """What the validate step found; also the run's `inputs.json`."""

    model_name: str
    run_id: str
    reason: str
    trigger: Trigger = "manual"
    dataset: Artifact
    train: Artifact
    holdout: Artifact
    rows: int
    sources: list[DataSource] = Field(default_factory=list)
    fingerprint: str = ""  # of the training data: the dataset and the labelled feedback rows
    nothing_new: bool = False  # the champion, or another version, learned from exactly this data (not forced)
    learned_by: str = ""  # when another version did: which, in a sentence (`version 2 (rejected, not the champion) …`)
    spec_changed: bool = False  # nothing new, though the spec changed since that version was trained (--force)
    split: str = "random"
    trials: list[TrialPlan] = Field(default_factory=list)  # a hyperparameter search's, when the spec asks
    parallel: int = 1  # how many trials train at once
    warnings: list[str] = Field(default_factory=list)
    report: Artifact
    code: Artifact | None = None  # kind custom: the upload every job of the run imports
    job: JobPlan = Field(default_factory=JobPlan)


class ViewDriftCheck(_Message):
    """A feature view's drift check: its values of the newest window of event times against the window before
    (the view's `drift`), once for every model that takes them."""

    view: str
    checked_at: str
    window: tuple[str, str]  # ISO 8601 start and end of the newest window
    reference: tuple[str, str]  # and of the window before it
    rows: int
    reference_rows: int
    status: Literal["ok", "drift", "not_enough_data"]
    drifted_features: list[str] = Field(default_factory=list)
    features: list[dict[str, JsonValue]] = Field(default_factory=list)  # each feature's drift, as the monitor's
    unchecked: list[str] = Field(default_factory=list)  # features without a value in one of the windows

    @property
    def summary(self) -> str:
        """`drift: <features>`, `ok` or `not_enough_data`."""
        return f"drift: {', '.join(self.drifted_features)}" if self.drifted_features else self.status


class SegmentMetrics(_Message):
    """The holdout metrics of the rows where a segment column (`metrics.segments`) has one value."""

    column: str
    value: str  # `(null)` for the rows without a value
    rows: int
    metrics: dict[str, float]  # those defined on these rows (one class only: no ROC AUC)


MICROS_PER_HOUR = 3_600_000_000


class ViewBinding(BaseModel):
    """What a model takes from a feature view: filled from the registered view when the spec is registered, and
    kept with each version trained on it (a version reads its views as it was trained, whatever the spec says now)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    entities: list[str]
    timestamp: str
    ttl_hours: float
    features: list[str]

    @property
    def ttl_micros(self) -> int:
        """The TTL in whole microseconds: the training set's join and serving count it alike."""
        return math.floor(self.ttl_hours * MICROS_PER_HOUR)


class TrainedModel(_Message):
    """What a trained model is, as the training job measured it and the registry records it."""

    model_name: str
    run_id: str
    artifacts: dict[str, Artifact]
    metrics: dict[str, float]  # on the run's holdout
    signature: list[SignatureField]
    classes: list[str] | None = None
    training_rows: int = 0
    holdout_rows: int = 0
    # Classifiers: each class's rows in the training set and in the holdout (None: a regressor, or a model registered
    # before they were counted), what a reader of precision and recall needs beside them.
    training_classes: dict[str, int] | None = None
    holdout_classes: dict[str, int] | None = None
    image: str = ""  # the training image (digest, or `local`)
    data_fingerprint: str = ""  # what it learned from (ValidateResult.fingerprint)
    params: dict[str, JsonValue] = Field(default_factory=dict)  # the estimator's, defaults included
    # Binary classifiers with `metrics.threshold`: the decision threshold picked on the holdout.
    threshold: float | None = None
    # Per feature: the primary metric's loss on the holdout when the feature is shuffled (permutation importance).
    importance: dict[str, float] = Field(default_factory=dict)
    code: Artifact | None = None  # kind custom: the training code it was built with (SHA-256)
    segments: list[SegmentMetrics] = Field(default_factory=list)  # per value of each `metrics.segments` column
    # The hashes of the rows it trained on (RunFile.TRAINING_ROWS): a later candidate's holdout rows among them are
    # left out of its comparison with this model. None: a model registered before they were kept.
    training_row_hashes: Artifact | None = None
    # The feature views it read (`features_from`), as bound when it was trained. None: a model registered before
    # versions kept them, which reads them as the spec binds them now.
    views: dict[str, ViewBinding] | None = None


class CrossValidation(_Message):
    """A metric's cross-validation scores on the training set."""

    folds: int
    mean: float
    sd: float


class Comparison(_Message):
    """The paired bootstrap interval of (challenger - champion) in the primary metric on the shared holdout.

    Signed so that positive is better (for a lower-is-better metric, champion - challenger).
    """

    metric: str
    confidence: float
    difference: float
    low: float
    high: float
    resamples: int


class TrainingResult(TrainedModel):
    """What the Batch training job writes to `runs/<model>/<run>/candidate.json`."""

    estimator: str
    parity_max_abs_diff: float
    champion_version: int | None = None
    champion_metrics: dict[str, float] | None = None
    # Why the champion was not scored on the holdout (its inputs are not this spec's features): no comparison.
    champion_not_compared: str = ""
    # When the champion trained on some of the holdout's rows (and the candidate did not): how many rows it and the
    # candidate were compared on (the others left out), and the candidate's metrics on those rows. None: compared on
    # the whole holdout, with `champion_favoured_rows` of its rows the champion's alone (too few others were left).
    compared_rows: int | None = None
    compared_metrics: dict[str, float] | None = None
    champion_favoured_rows: int = 0
    cross_validation: dict[str, CrossValidation] | None = None
    comparison: Comparison | None = None


class EvaluateRequest(_Message):
    model_name: str
    run_id: str


class EvaluateResult(_Message):
    model_name: str
    run_id: str
    passed: bool
    reason: str
    primary_metric: str
    candidate_metrics: dict[str, float]
    champion_version: int | None = None
    champion_metrics: dict[str, float] | None = None
    # the rows the champion was scored on, when not the whole holdout, and the candidate's metrics on them
    compared_rows: int | None = None
    compared_metrics: dict[str, float] | None = None
    comparison: Comparison | None = None
    held: str = ""  # why a candidate that passed waits for a person whatever the spec's approval (empty: it does not)


class RegisterRequest(_Message):
    evaluation: EvaluateResult


class RegisterResult(_Message):
    model_name: str
    version: int
    status: str
    reason: str
    champion_version: int | None = None  # the champion the candidate was gated against (None: there was none)
    # A pending version (approval: manual): how long the pipeline waits for a person's decision.
    approval_timeout_seconds: int | None = None
    held: str = ""  # a pending version the gate held for a person (approval: auto): why


class ApprovalRequest(_Message):
    """The approval step's input: wait for a person (with the task token), or, at the timeout, reject (`expire`)."""

    model_name: str
    version: int
    run_id: str
    champion_version: int | None = None
    token: str | None = None
    expire: bool = False


class ApprovalResult(_Message):
    model_name: str
    version: int
    status: str
    said: str  # what was asked or done, in words


class PromoteRequest(_Message):
    model_name: str
    version: int
    alias: str = "champion"
    reason: str = ""
    # The pipeline's promotion (`gated: true`) moves the alias only from the champion the candidate was
    # gated against (`gated_against`; None: there was none), so that a promotion made meanwhile stands.
    gated: bool = False
    gated_against: int | None = None


class PromoteResult(_Message):
    model_name: str
    alias: str
    version: int
    previous_version: int | None


class MonitorInput(BaseModel):
    """Input of the monitor state machine: the schedule's, or a manual run's (`mlops monitor run`)."""

    model_config = ConfigDict(defer_build=True)  # extra fields of an EventBridge event are ignored
    source: str = "schedule"
    force: bool = False  # check every model, due or not
    models: list[str] = Field(default_factory=list)  # only these (all when empty)


class ListDueRequest(_Message):
    request: MonitorInput = Field(default_factory=MonitorInput)


class DueModel(_Message):
    model_name: str
    window_hours: int


class ListDueResult(_Message):
    models: list[DueModel]


class DriftCheckResult(_Message):
    model_name: str
    check_id: str
    status: str
    rows: int
    drifted_features: list[str]
    drift_share: float
    dataset_drift: bool
    performance_degraded: bool = False
    # Per feature: the drift distance (large samples), or the p-value of the test (small samples).
    distances: dict[str, float] = Field(default_factory=dict)
    p_values: dict[str, float] = Field(default_factory=dict)
    retrain_recommended: bool
    retrain_trigger: Trigger | None = None  # degradation or drift, when the spec retrains on it
    summary: str
    report: Artifact | None = None


class RetrainingRequest(BaseModel):
    """A request to retrain: from the schedule's tick, a data drop, or a drift check (the request step's input)."""

    model_config = ConfigDict(defer_build=True)  # an EventBridge target's input may carry more
    trigger: Trigger
    event_id: str  # EventBridge's event id, or the drift check's id: a replay starts nothing
    model_name: str | None = None  # None: a schedule tick, for every model whose schedule is due
    reason: str = ""
    at: str | None = None  # when the event happened (EventBridge's `time`)
    key: str | None = None  # new_data: the object created
    after_wait: bool = False  # new_data: the debounce wait is over


class RetrainingDecision(_Message):
    model_name: str
    trigger: Trigger
    started: bool
    execution_name: str | None = None
    reason: str


class RetrainingResult(_Message):
    """The decisions made; `wait_seconds` > 0 asks the state machine to wait and ask again (debounce)."""

    decisions: list[RetrainingDecision] = Field(default_factory=list)
    wait_seconds: int = 0


class RecordRunRequest(_Message):
    """The record step's input: which run, how it ended, and the state it ended with."""

    model_name: str
    run_id: str
    execution_arn: str
    outcome: Literal["registered", "rejected", "skipped", "failed"]
    input: PipelineInput
    state: dict[str, JsonValue] = Field(default_factory=dict)


class RecordRunResult(_Message):
    run_id: str
    status: str
    outcome: str
    children: int = 0  # search trials recorded as child runs


class StepError(BaseModel):
    """What a state machine's Catch puts at `$.error`: the error's name and its cause (often JSON)."""

    model_config = ConfigDict(defer_build=True, populate_by_name=True)
    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")


class FailedStep(_Message):
    """A step of a state machine that failed, as its Catch hands it to the failure report."""

    pipeline: str  # the state machine: training, monitor
    step: str  # the state that failed: Validate, Train, ...
    model_name: str | None = None
    run_id: str | None = None  # the execution's name (a training run's id)
    error: StepError


class FailureReport(_Message):
    """What failed and why, in words: the CLI prints `message`, the alert sends it, the execution's Fail cites it."""

    step: str
    error_type: str
    error_message: str
    report_uri: str | None = None  # the validation report, when the data contract was checked
    message: str
    model_name: str | None = None  # the model the failed step worked for (a monitor's check: its alert names it)


class BatchRequest(BaseModel):
    """The batch-scoring state machine's input: what to score, with which version, where to write.

    `input` and `output` default to the spec's `batch.input` and `batch.output`; `version` to the
    champion's. Files are scored in chunks of about `chunk_mb` megabytes, one job per chunk: a chunk of at most
    `lambda_mb` megabytes in the scoring image's Lambda function (no Batch job to start), a larger one (or every
    one, with `lambda_mb` 0) in a Batch job.
    """

    model_config = ConfigDict(extra="forbid")

    model_name: str
    input: str | None = None
    output: str | None = None
    version: int | None = Field(default=None, ge=1)
    chunk_mb: float = Field(default=256, gt=0, le=100_000)
    # the files' stored (compressed) size: 256 MB of CSV.gz is a few GB of text, minutes of Lambda's 15 on its 2 vCPUs
    lambda_mb: float = Field(default=64, ge=0, le=256)
    trigger: Literal["manual", "schedule"] = "manual"


class BatchTick(_Message):
    """The platform's schedule tick, as the rule sends it: which models' batch.schedule fired is decided here."""

    event_id: str
    at: str


class ScheduledBatch(_Message):
    """One model's batch.schedule at a tick: started (with the batch's id) or why not."""

    model_name: str
    started: bool
    reason: str
    batch_id: str | None = None
    fired_at: str | None = None
    error: str | None = None  # why starting it failed (the firing is given back)


class ScheduledBatchResult(_Message):
    batches: list[ScheduledBatch] = Field(default_factory=list)


class PlanBatchRequest(_Message):
    request: BatchRequest
    batch_id: str  # the execution's name


class BatchPlan(_Message):
    """A planned batch: the version to score with, where its files and results are, how many chunks."""

    batch_id: str
    model_name: str
    version: int
    model_sha256: str
    bucket: str
    input: str  # the key prefix of the input files
    output: str  # the key prefix the batch writes under
    keep_columns: list[str]
    files: int
    input_bytes: int
    chunks: int
    lambda_chunks: int = 0  # of them, the ones scored in the Lambda function
    plan_key: str  # this plan, with each chunk's files (BatchChunk)
    chunks_key: str  # the chunks as the Distributed Map reads them: [{"chunk": "00000", "runner": "lambda"}, ...]
    created_at: str
    trigger: str


ChunkRunner = Literal["lambda", "batch"]


class BatchChunk(_Message):
    chunk: str
    keys: list[str]
    runner: ChunkRunner = "batch"


class ChunkResult(_Message):
    """What one scoring job did with its chunk."""

    chunk: str
    files: int
    read: int
    scored: int
    rejected: int
    predictions_key: str | None
    rejects_key: str | None
    seconds: float
    columns: list[tuple[str, str]] = Field(default_factory=list)  # of its predictions, as Glue types them


class BatchManifest(_Message):
    """What a batch read, scored and refused, and where its predictions are."""

    batch_id: str
    model_name: str
    version: int
    trigger: str
    input: str
    output: str
    files: int
    chunks: int
    lambda_chunks: int  # of them, the ones scored in the Lambda function (the others in Batch jobs)
    read: int
    scored: int
    rejected: int
    predictions: str  # the batch's partition of the predictions table
    rejects: list[str]
    table: str | None  # database.table in the Glue catalog
    created_at: str
    finished_at: str


class ViewMaterialized(_Message):
    """One feature view brought up to date in the online store, and how fresh it is."""

    view: str
    files: int = 0  # offline files read: those ingested since the last materialization
    rows: int = 0
    written: int = 0  # entities whose item moved forward
    kept: int = 0  # entities whose item already held newer values
    through: str = ""  # the newest ingest in the online store
    newest_event_at: str | None = None  # the newest event time the online store holds (ISO 8601)
    age_hours: float | None = None  # how old that is: the view's freshness
    stale: bool = False  # older than the view's TTL: predictions that need it are refused or get nulls
    error: str | None = None  # why this view was not materialized (the others were)


class MaterializeRun(_Message):
    views: list[ViewMaterialized] = Field(default_factory=list)
    # The views checked for drift at this tick: `ok`, `drift: <features>` or `not_enough_data`, or the error.
    drift: dict[str, str] = Field(default_factory=dict)


class RegistryStreamBatch(_Message):
    """A batch of the registry's (or its audit table's) stream records, as Lambda's DynamoDB event source sends it."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    Records: list[dict[str, Any]] = Field(default_factory=list)


class PublishedEvents(_Message):
    published: int


class AuditExported(_Message):
    records: int  # written to the audit bucket as JSON lines
