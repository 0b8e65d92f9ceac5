"""The registry's records: one pydantic model per DynamoDB item it writes.

Items updated in place (a spec, an alias, the monitor state, a version's status) carry a revision:
every write is conditional on the revision it read, so a concurrent writer gets a `ConflictError`
instead of silently losing (or undoing) an update.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from mlcore.catalog import (
    Comparison,
    CrossValidation,
    DataSource,
    DriftCheckResult,
    SegmentMetrics,
    TrainedModel,
    ViewDriftCheck,
)
from mlcore.spec import FeatureView, ModelSpec

CHAMPION = "champion"
CHALLENGER = "challenger"


class Record(BaseModel):
    # defer_build: the predict function parses only a few of these. A metric undefined on its rows (ROC AUC of one
    # class) is NaN: stored as the string "NaN", which reads back as NaN (JSON's null would not read as a number).
    model_config = ConfigDict(defer_build=True, ser_json_inf_nan="strings")
    # The item's `rev` attribute as read (0: no such item yet); not part of the stored document.
    revision: int = Field(default=0, exclude=True)


class VersionStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending_approval"
    REJECTED = "rejected"
    ARCHIVED = "archived"


# The status changes a version may make: a pending version is approved or rejected; an approved one
# is archived, or rejected (a recall); rejected and archived are final.
STATUS_CHANGES: dict[VersionStatus, frozenset[VersionStatus]] = {
    VersionStatus.PENDING: frozenset({VersionStatus.APPROVED, VersionStatus.REJECTED}),
    VersionStatus.APPROVED: frozenset({VersionStatus.ARCHIVED, VersionStatus.REJECTED}),
    VersionStatus.REJECTED: frozenset(),
    VersionStatus.ARCHIVED: frozenset(),
}


class SpecRecord(Record):
    spec: ModelSpec
    updated_at: str


class SpecProposal(Record):
    """A spec change that loosens the model's governance: it waits for an approver (not its proposer)."""

    spec: ModelSpec
    proposed_by: str
    proposed_at: str
    base_revision: int  # the spec's revision it was proposed against: applied only while that is current
    diff: list[dict[str, JsonValue]]
    loosens: list[str]


class ViewRecord(Record):
    view: FeatureView
    updated_at: str
    # The newest ingest (ids sort by start time) whose rows are in the online store, and every ingest materialized
    # since `materialized_before`: an ingest that completes after a later-started one is still found.
    materialized_through: str = ""
    materialized_ingests: list[str] = Field(default_factory=list)
    materialized_before: str = ""  # every complete ingest with a smaller id is in the online store
    newest_event_at: str | None = None  # the newest event time in the online store (ISO 8601): its freshness
    drift: ViewDriftCheck | None = None  # its last drift check (the platform's tick)


class ModelVersion(Record, TrainedModel):
    """A registered version: a trained model with its number, status and the gate's verdict."""

    version: int
    status: VersionStatus
    created_at: str
    notes: str = ""
    # Lineage, besides the training image, the data fingerprint and the artifacts' SHA-256 (TrainedModel): the
    # commit of the platform that registered it and the SHA-256 of the spec it was trained under.
    code_version: str = ""
    spec_sha256: str = ""


class RolloutMode(StrEnum):
    CANARY = "canary"  # the challenger answers `weight` of the traffic
    SHADOW = "shadow"  # the challenger scores every request; the champion answers


# How many versions an alias remembers having served, for rollbacks one after another.
SERVED_BEFORE_KEPT = 20


class AliasRecord(Record):
    alias: str
    version: int
    previous_version: int | None = None  # the version it pointed at before this move
    # The versions it served before, oldest first: a rollback returns to the last and forgets it, so a second
    # rollback goes further back rather than to the version just rolled back from. None: a record from before
    # this was kept, whose previous_version is all it remembers.
    served_before: list[int] | None = None
    updated_at: str
    reason: str = ""
    # Only for the challenger alias.
    mode: RolloutMode | None = None
    weight: float = Field(default=0.0, ge=0.0, le=1.0)


def rollback_reason(version: int, reason: str = "") -> str:
    """The reason an alias moved back from `version` records (`rolled_back_from` reads it)."""
    return f"rollback from {version}" + (f": {reason}" if reason else "")


def is_rollback_from(reason: str, version: int | None) -> bool:
    """Whether an alias move with this reason was a rollback from `version`."""
    return version is not None and reason.startswith(rollback_reason(version))


def served_before(alias: AliasRecord) -> list[int]:
    """The versions an alias served before, oldest first (a record from before they were kept: its previous one,
    unless a rollback wrote it: that is the version rolled back from)."""
    if alias.served_before is not None:
        return list(alias.served_before)
    if alias.previous_version is None or is_rollback_from(alias.reason, alias.previous_version):
        return []
    return [alias.previous_version]


def no_fallback(rolled_back: set[int]) -> str:
    """Why a champion taken out of serving has no fallback: the versions left it was rolled back from."""
    named = ", ".join(f"v{v}" for v in sorted(rolled_back))
    return f"no fallback: {named} {'was' if len(rolled_back) == 1 else 'were'} rolled back from"


class AuditRecord(BaseModel):
    at: str
    action: str
    actor: str
    details: dict[str, JsonValue] = Field(default_factory=dict)


class MonitorState(Record):
    """What the platform keeps per model: its last check, and the retraining requests it decided on."""

    last_check_at: str | None = None
    last_claim_at: str | None = None  # when a monitor run last took the model's check (one run per interval)
    last_check: DriftCheckResult | None = None
    retrains: list[str] = Field(default_factory=list)  # start times, ISO 8601 (cool-down, daily cap)
    last_retrain_at: str | None = None
    last_retrain_execution: str | None = None
    previous_retrain_at: str | None = None  # last_retrain_at before the last run's reservation
    last_retrain_data: str | None = None  # what the last run was asked to learn from (its champion and data)
    learned_nothing_from: str | None = None  # such data, when its run found nothing new in it
    handled_events: list[str] = Field(default_factory=list)  # `<trigger>:<event id>`, newest last (replays)
    schedule_served_at: str | None = None  # when the model's schedule was last served
    last_data_event: str | None = None  # the newest data drop's event id (the debounce)
    last_data_at: str | None = None  # and when it happened (EventBridge's time): an older drop never replaces it
    last_data_key: str | None = None  # and its object (drops of the same second are ordered by key)
    batch_served_at: str | None = None  # when the model's batch.schedule was last served

    def learned_nothing(self, execution: str) -> MonitorState | None:
        """The state once the retraining run `execution` found nothing new to learn (for a model that reads feature
        views, only its run can tell): it gives back its slot of the daily cap and the cool-down, and a request on
        the same data is refused before it starts another run. None when the last reservation is another run's, or
        its data was unknown to the request (an Athena query's result): nothing would refuse the next run, so the
        cap and the cool-down keep limiting them."""
        if self.last_retrain_execution != execution or self.last_retrain_at is None or self.last_retrain_data is None:
            return None
        return self.model_copy(
            update={
                "retrains": [at for at in self.retrains if at != self.last_retrain_at],
                "last_retrain_at": self.previous_retrain_at,
                "last_retrain_execution": None,  # a retried record step changes nothing again
                "learned_nothing_from": self.last_retrain_data,
            }
        )


class RunStatus(StrEnum):
    REGISTERED = "registered"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    FAILED = "failed"
    TRIAL = "trial"  # a child run of a hyperparameter search


class StepTime(BaseModel):
    """How long a step of the run took (summed over its repeats, e.g. a Map's iterations)."""

    step: str
    seconds: float
    count: int = 1


class BatchUsage(BaseModel):
    """What the run's Batch jobs used, and an estimate of their Fargate cost."""

    jobs: int = 0
    vcpu_seconds: float = 0.0
    gb_seconds: float = 0.0
    cost_usd: float = 0.0


class RunRecord(Record):
    """One pipeline run, whatever became of it: the experiment record (`mlops runs`)."""

    run_id: str
    model_name: str
    parent_run_id: str | None = None  # a search trial's run
    trial: int | None = None
    trigger: str = "manual"
    reason: str = ""
    event_id: str | None = None
    started_by: str = ""  # the principal that started the run through the API (none: the platform did)
    status: RunStatus
    outcome: str  # registered v3 | rejected | skipped: nothing new | failed at Train: ...
    started_at: str
    ended_at: str
    spec_sha256: str = ""
    estimator: str = ""
    params: dict[str, JsonValue] = Field(default_factory=dict)  # resolved: defaults included
    features: list[str] = Field(default_factory=list)  # the trained model's inputs (none: nothing was trained)
    datasets: list[DataSource] = Field(default_factory=list)
    fingerprint: str = ""
    code_version: str = ""
    image: str = ""
    training_code: str = ""  # kind custom: the URI of the uploaded code (its path holds its SHA-256)
    primary_metric: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)  # on the holdout (a trial: cross-validation means)
    segments: list[SegmentMetrics] = Field(default_factory=list)  # the holdout's metrics per `metrics.segments` value
    threshold: float | None = None  # the decision threshold picked on the holdout (`metrics.threshold`)
    cross_validation: dict[str, CrossValidation] | None = None
    champion_version: int | None = None
    champion_metrics: dict[str, float] | None = None
    # when the champion was scored on the holdout rows it did not train on: how many, and the candidate's metrics there
    compared_rows: int | None = None
    compared_metrics: dict[str, float] | None = None
    comparison: Comparison | None = None
    gate_passed: bool | None = None
    gate_reason: str = ""
    version: int | None = None
    steps: list[StepTime] = Field(default_factory=list)
    batch: BatchUsage = Field(default_factory=BatchUsage)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
