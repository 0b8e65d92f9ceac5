"""The registry's records: one pydantic model per DynamoDB item it writes.

Items updated in place (a spec, an alias, the monitor state, a version's status) carry a revision:
every write is conditional on the revision it read, so a concurrent writer gets a `ConflictError`
instead of silently losing (or undoing) an update.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from mlcore.catalog import DriftCheckResult, TrainedModel
from mlcore.spec import ModelSpec

CHAMPION = "champion"
CHALLENGER = "challenger"


class Record(BaseModel):
    model_config = ConfigDict(defer_build=True)  # the predict function parses only a few of these
    # The item's `rev` attribute as read (0: no such item yet); not part of the stored document.
    revision: int = Field(default=0, exclude=True)


class VersionStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending_approval"
    REJECTED = "rejected"


class SpecRecord(Record):
    spec: ModelSpec
    updated_at: str


class ModelVersion(Record, TrainedModel):
    """A registered version: a trained model with its number, status and the gate's verdict."""

    version: int
    status: VersionStatus
    created_at: str
    notes: str = ""


class RolloutMode(StrEnum):
    CANARY = "canary"  # the challenger answers `weight` of the traffic
    SHADOW = "shadow"  # the challenger scores every request; the champion answers


class AliasRecord(Record):
    alias: str
    version: int
    previous_version: int | None = None
    updated_at: str
    reason: str = ""
    # Only for the challenger alias.
    mode: RolloutMode | None = None
    weight: float = Field(default=0.0, ge=0.0, le=1.0)


class AuditRecord(BaseModel):
    at: str
    action: str
    actor: str
    details: dict[str, JsonValue] = Field(default_factory=dict)


class MonitorState(Record):
    """What the monitor keeps per model: its last check, and the retrainings it started (cool-down, daily cap)."""

    last_check_at: str | None = None
    last_check: DriftCheckResult | None = None
    retrains: list[str] = Field(default_factory=list)  # start times, ISO 8601
    last_retrain_at: str | None = None
    last_retrain_execution: str | None = None


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
