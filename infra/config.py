"""Typed configuration of the CDK app, read from the `mlops:*` keys of the cdk.json context."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal, cast

from constructs import Node

from mlcore.catalog import DEFAULT_PREFIX, stack_name
from mlcore.schedules import ScheduleError, parse_schedule
from mlcore.spec import NAME_PATTERN

ApiAuth = Literal["api_key", "iam"]
_AUTH_MODES: tuple[ApiAuth, ...] = ("api_key", "iam")
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_MODEL = re.compile(NAME_PATTERN)
MAX_RETENTION_DAYS = 36500  # S3 Object Lock's longest default retention (100 years)


class ConfigError(ValueError):
    """A context value of the CDK app is missing or malformed."""


@dataclass(frozen=True)
class MlopsConfig:
    """Deployment options; every stack reads them from here, never from the context directly."""

    prefix: str = DEFAULT_PREFIX
    api_auth: ApiAuth = "api_key"
    monitor_schedule: str = "rate(1 hour)"
    # How often the platform looks for models whose retrain.schedule or batch.schedule is due: their
    # schedules' resolution (one rule for every model, however many there are).
    retrain_tick: str = "rate(5 minutes)"
    alarm_email: str | None = None
    # An EC2 queue of GPU instances for models with training.resources.gpu (it costs nothing idle,
    # but needs the account's G-instance quota; off by default).
    gpu_jobs: bool = False
    # The audit trail's export under Object Lock: how long each record is kept, and the lock's mode (governance:
    # only a principal with s3:BypassGovernanceRetention, which no platform role has, may shorten it; compliance:
    # nobody, the account's root included).
    audit_retention_days: int = 365
    audit_lock_mode: str = "governance"
    # A version is never approved by the principal that started the run that trained it (runs started through the
    # API's POST /models/{name}/runs record their starter).
    separation_of_duties: bool = False
    # Models with their own governance policies (ModelApprover-<model>, ...) besides the ones for every model.
    governed_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ConfigError(f"mlops:prefix must match {_PREFIX.pattern}, got {self.prefix!r}")
        if self.api_auth not in _AUTH_MODES:
            raise ConfigError(f"mlops:apiAuth must be one of {_AUTH_MODES}, got {self.api_auth!r}")
        for key, value in (("monitorSchedule", self.monitor_schedule), ("retrainTick", self.retrain_tick)):
            try:  # as EventBridge reads it: a bad one would fail only at deploy, a warning at synth
                parse_schedule(value)
            except ScheduleError as exc:
                raise ConfigError(f"mlops:{key}: {exc}") from None
        if not 1 <= self.audit_retention_days <= MAX_RETENTION_DAYS:
            raise ConfigError(
                f"mlops:auditRetentionDays must be 1 to {MAX_RETENTION_DAYS}, got {self.audit_retention_days}"
            )
        if self.audit_lock_mode not in ("governance", "compliance"):
            raise ConfigError(f"mlops:auditLockMode must be governance or compliance, got {self.audit_lock_mode!r}")
        for model in self.governed_models:
            if not _MODEL.match(model):
                raise ConfigError(f"mlops:governedModels: {model!r} is not a model name ({_MODEL.pattern})")
        if self.alarm_email is not None and "@" not in self.alarm_email:
            raise ConfigError(f"mlops:alarmEmail is not an e-mail address: {self.alarm_email!r}")

    @classmethod
    def from_node(cls, node: Node) -> MlopsConfig:
        """Read the `mlops:*` context keys of a construct tree (an App's node)."""

        def get(key: str, default: str) -> str:
            value = node.try_get_context(f"mlops:{key}")
            return default if value is None else str(value)

        email = get("alarmEmail", "").strip()
        gpu = _flag(get("gpuJobs", "false"), "gpuJobs")
        return cls(
            prefix=get("prefix", cls.prefix),
            api_auth=cast(ApiAuth, get("apiAuth", cls.api_auth)),
            monitor_schedule=get("monitorSchedule", cls.monitor_schedule),
            retrain_tick=get("retrainTick", cls.retrain_tick),
            alarm_email=email or None,
            gpu_jobs=gpu,
            governed_models=_names(node.try_get_context("mlops:governedModels")),
            separation_of_duties=_flag(get("separationOfDuties", "false"), "separationOfDuties"),
            audit_retention_days=_integer(
                get("auditRetentionDays", ""), "auditRetentionDays", cls.audit_retention_days
            ),
            audit_lock_mode=get("auditLockMode", cls.audit_lock_mode),
        )

    @property
    def training_state_machine_name(self) -> str:
        """Named, so that other stacks' roles can name its executions without a reference to it."""
        return f"{self.prefix}-training"

    def stack_id(self, name: str) -> str:
        """Stack id `Mlops<Name>`, prefixed unless the prefix is the default one."""
        return stack_name(self.prefix, name)


def _names(value: object) -> tuple[str, ...]:
    """A context list given as JSON (cdk.json, or `-c 'mlops:governedModels=["a","b"]'`, which the CDK CLI passes
    as text) or as `a,b` (`cdk deploy -c mlops:governedModels=a,b`)."""
    text = str(value or "").strip()
    if not isinstance(value, list) and text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"mlops:governedModels is not a JSON list: {exc.msg}") from None
    items = value if isinstance(value, list) else text.split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _integer(value: str, key: str, default: int) -> int:
    if not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"mlops:{key} must be a whole number, got {value!r}") from None


def _flag(value: str, key: str) -> bool:
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise ConfigError(f"mlops:{key} must be true or false, got {text!r}")
    return text == "true"
