"""Typed settings, one model per deployed function or job.

The CDK constructs build each function's environment from these field names, and an infra test
asserts the synthesized keys equal them. Resource names have no defaults: a missing variable is
an error at start-up, not a silent fallback.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)


class ValidateSettings(_Settings):
    registry_table: str
    data_bucket: str
    artifacts_bucket: str


class TrainSettings(_Settings):
    registry_table: str
    artifacts_bucket: str


class EvaluateSettings(_Settings):
    registry_table: str
    artifacts_bucket: str


class RegisterSettings(_Settings):
    registry_table: str
    artifacts_bucket: str


class PromoteSettings(_Settings):
    registry_table: str


class PredictSettings(_Settings):
    registry_table: str
    artifacts_bucket: str
    capture_bucket: str
    max_rows: int = 1000
    alias_ttl_seconds: float = 30.0


class ListDueSettings(_Settings):
    registry_table: str


class DriftCheckSettings(_Settings):
    registry_table: str
    artifacts_bucket: str
    capture_bucket: str


class RetrainSettings(_Settings):
    registry_table: str
    training_state_machine_arn: str


def env_keys(model: type[BaseSettings]) -> list[str]:
    """Environment variable names a settings model reads, as the infrastructure must set them."""
    return sorted(name.upper() for name in model.model_fields)
