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
        json_schema_extra={
            "example": {"instances": [{"tenure_months": 12, "plan": "basic"}]},
            "oneOf": [{"required": ["instances"]}, {"required": ["dataframe_split"]}],
        }
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
    predictions: list[str | float] = Field(description="One label (classifiers) or number (regressors) per row.")
    probabilities: list[dict[str, float]] | None = Field(
        default=None, description="Classifiers only: per row, the probability of each class label."
    )
    model: ServedModel
    request_id: str


class Rollout(_Body):
    version: int
    mode: str = Field(description="`canary` or `shadow`.")
    weight: float


class DescribeResponse(_Body):
    name: str
    version: int
    task: str
    signature: list[SignatureField]
    classes: list[str] | None = None
    threshold: float | None = Field(
        default=None,
        description="Binary classifiers: a row is labelled with the second class when its probability is at "
        "least this (picked on the holdout by `metrics.threshold`); absent: the likelier class.",
    )
    challenger: Rollout | None = None


class Feedback(_Body):
    request_id: str = Field(min_length=1, description="The `request_id` of the prediction this is the truth for.")
    row_index: int = Field(default=0, ge=0, description="The row of that request.")
    label: str | float


class FeedbackBatch(_Body):
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
