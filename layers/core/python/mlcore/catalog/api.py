"""The bodies of the prediction API: what clients send and get back (OpenAPI and API Gateway derive from these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

from mlcore.catalog.limits import MAX_FEEDBACK
from mlcore.catalog.messages import SignatureField


class _Body(BaseModel):
    # Built on first use (the OpenAPI document, API Gateway's models); the predict hot path parses by hand.
    model_config = ConfigDict(defer_build=True)


Value = float | int | str | None


class DataframeSplit(_Body):
    columns: list[str] = Field(description="Feature names, in the order of each row of `data`.")
    data: list[list[Value]] = Field(min_length=1)


class PredictRequest(_Body):
    """Rows to score: `instances` (one object per row) or MLflow's `dataframe_split`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"instances": [{"tenure_months": 12, "plan": "basic"}]},
            "oneOf": [{"required": ["instances"]}, {"required": ["dataframe_split"]}],
        },
    )
    instances: list[dict[str, Value]] | None = Field(
        default=None, min_length=1, description="One object per row, keyed by feature name."
    )
    dataframe_split: DataframeSplit | None = None


class ServedModel(_Body):
    name: str
    version: int
    variant: str | None = Field(default=None, description="`challenger` when a canary rollout answered.")


class PredictResponse(_Body):
    predictions: list[str | float | None] = Field(
        description="One label (classifiers) or number (regressors) per row; null where a regressor's output is no "
        "finite number (an input near float32's extremes can overflow it)."
    )
    probabilities: list[dict[str, float]] | None = Field(
        default=None, description="Classifiers only: per row, the probability of each class label."
    )
    model: ServedModel
    request_id: str


class Rollout(_Body):
    version: int
    mode: str = Field(description="`canary` or `shadow`.")
    weight: float


class ViewKeys(_Body):
    entities: list[str] = Field(description="The keys a row may send instead of the view's features.")
    features: list[str]
    ttl_hours: float = Field(description="A stored value older than this is no value.")


class DescribeResponse(_Body):
    name: str
    version: int
    task: str
    signature: list[SignatureField]
    views: dict[str, ViewKeys] | None = Field(
        default=None,
        description="A model with features from feature views: per view, the entity keys a row may send instead "
        "of its features, which are then read from the online store.",
    )
    classes: list[str] | None = None
    threshold: float | None = Field(
        default=None,
        description="Binary classifiers: a row is labelled with the second class when its probability is at "
        "least this (picked on the holdout by `metrics.threshold`); absent: the likelier class.",
    )
    challenger: Rollout | None = None


class Feedback(_Body):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, description="The `request_id` of the prediction this is the truth for.")
    row_index: int = Field(default=0, ge=0, description="The row of that request.")
    label: str | float


class FeedbackBatch(_Body):
    model_config = ConfigDict(extra="forbid")

    feedback: list[Feedback] = Field(min_length=1, max_length=MAX_FEEDBACK)


class FeedbackResponse(_Body):
    accepted: int
    model: str


class ErrorDetail(_Body):
    code: str
    message: str = Field(description="Names the offending field and row, e.g. `instances[3].age: is missing`.")
    field: str | None = None
    request_id: str | None = Field(default=None, description="The request's id, as in the `X-Request-Id` header.")


class ErrorResponse(_Body):
    error: ErrorDetail


class FeedbackRequest(RootModel[Feedback | FeedbackBatch]):
    """One label (`{"request_id", "label", "row_index"?}`) or a batch of them (`{"feedback": [...]}`)."""

    model_config = ConfigDict(defer_build=True)


class ModelDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document of one model's routes, its request schema drawn from the champion's signature."""

    model_config = ConfigDict(defer_build=True)


# -- governance: IAM-authorised changes to versions and aliases, and the audit trail --------------------


class _Change(_Body):
    # A member the API does not know is refused by name: an `actor` in the body, say, is never taken for one.
    model_config = ConfigDict(defer_build=True, extra="forbid")


class StatusChangeRequest(_Change):
    """Why a version is approved, rejected or archived (recorded in the audit trail with the caller's ARN)."""

    reason: str = Field(default="", max_length=1000)


class StatusChangeResponse(_Body):
    model: str
    version: int
    status: str
    actor: str = Field(description="The principal ARN API Gateway authenticated (SigV4), as recorded.")
    serving: str = Field(description="What the change did to serving, in words.")
    champion: int | None = Field(description="The champion version after the change (None: no champion).")


class AliasRequest(_Change):
    """Point an alias at an approved version. The `challenger` alias is a rollout: `mode` canary (`weight` of the
    traffic) or shadow (scored beside the champion, never answers)."""

    version: int = Field(ge=1)
    reason: str = Field(default="", max_length=1000)
    mode: str | None = Field(default=None, description="Challenger only: `canary` or `shadow`.")
    weight: float | None = Field(default=None, ge=0.0, le=1.0, description="Canary only: the share it answers.")
    expected_version: int | None = Field(
        default=None, ge=1, description="Move only while the alias points at this version (else 409)."
    )


class AliasResponse(_Body):
    model: str
    alias: str
    version: int | None = Field(description="None: the alias was removed (a rollout ended).")
    previous_version: int | None = None
    actor: str


class RollbackRequest(_Change):
    reason: str = Field(default="", max_length=1000)


class AuditEntry(_Body):
    at: str
    action: str
    actor: str
    details: dict[str, Any]


class AuditResponse(_Body):
    model: str
    records: list[AuditEntry] = Field(description="Oldest first.")


class SpecRequest(_Change):
    """A model spec (as its YAML file reads, in JSON): registered, or, when it loosens the model's governance (a gate
    minimum lowered or dropped, more tolerance, less confidence, another primary metric, approval manual -> auto),
    kept until an approver applies it."""

    spec: dict[str, Any]


class SpecResponse(_Body):
    model: str
    applied: bool = Field(description="False: the change loosens governance and waits for an approver.")
    spec: dict[str, Any] = Field(description="The spec as registered (or proposed), feature views resolved.")
    diff: list[dict[str, Any]] = Field(description="`{path, from, to}` of each value the change makes.")
    loosens: list[str] = Field(description="How the change makes the gate or the approval easier, in words.")
    proposed_by: str
    approved_by: str | None = None


class RunRequest(_Change):
    """Start a training run of the model (the pipeline records the caller as the run's starter)."""

    dataset_uri: str | None = Field(
        default=None, description="A dataset under the model's prefix; default: the newest."
    )
    reason: str = Field(default="manual", max_length=1000)
    force: bool = Field(default=False, description="Train even when there is nothing new to learn.")


class RunResponse(_Body):
    model: str
    run_id: str
    execution_arn: str
    started_by: str
