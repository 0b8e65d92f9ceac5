"""The registry's records: versions, aliases, audit entries (one DynamoDB item each)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from mlcore.catalog.messages import Artifact

CHAMPION = "champion"
CHALLENGER = "challenger"


class VersionStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending_approval"
    REJECTED = "rejected"


class ModelVersion(BaseModel):
    model_name: str
    version: int
    run_id: str
    status: VersionStatus
    created_at: str
    artifacts: dict[str, Artifact]
    metrics: dict[str, float]
    signature: list[dict[str, Any]]
    classes: list[str] | None = None
    training_rows: int = 0
    holdout_rows: int = 0
    image: str = ""
    notes: str = ""


class RolloutMode(StrEnum):
    CANARY = "canary"  # the challenger answers `weight` of the traffic
    SHADOW = "shadow"  # the challenger scores every request; the champion answers


class AliasRecord(BaseModel):
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
    details: dict[str, Any] = Field(default_factory=dict)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
