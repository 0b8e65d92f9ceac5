"""The steps of the monitor state machine: which models are due, the drift check, the retrain trigger."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mlcore.catalog import DueModel, ListDueRequest, ListDueResult, PipelineInput, RetrainRequest, RetrainResult
from mlcore.registry import MonitorState, Registry
from mlcore.spec import ModelSpec

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MONITOR = "monitor"


def _parse(at: str | None) -> datetime | None:
    return datetime.fromisoformat(at) if at else None


def list_due_models(request: ListDueRequest, *, registry: Registry, now: datetime | None = None) -> ListDueResult:
    """Models whose check interval has passed since their last check (all of them when `force` is set)."""
    now = now or datetime.now(UTC)
    only = set(request.request.models)
    due = []
    for spec in registry.list_specs():
        if only and spec.name not in only:
            continue
        last = _parse(registry.get_monitor_state(spec.name).last_check_at)
        if request.request.force or last is None or now - last >= timedelta(minutes=spec.monitor.every_minutes):
            due.append(DueModel(model_name=spec.name, window_hours=spec.drift.window_hours))
    return ListDueResult(models=due)


def retrain_execution_name(model_name: str, check_id: str) -> str:
    """Deterministic per model and check, so a second delivery starts nothing.

    Step Functions allows 80 characters of `[A-Za-z0-9_-]`; the digest keeps names of long or
    unusual check ids distinct after they are shortened.
    """
    digest = hashlib.sha256(f"{model_name}/{check_id}".encode()).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", check_id)[:20]
    return f"{model_name[:40]}-retrain-{readable}-{digest}"


def _refusal(spec: ModelSpec, state: MonitorState, execution: str, now: datetime) -> str | None:
    """Why a retraining may not start now (this check's, the cool-down's, the daily cap's), or None."""
    starts = [t for t in state.retrains if now - datetime.fromisoformat(t) < timedelta(days=1)]
    last = state.last_retrain_at
    if state.last_retrain_execution == execution:
        return "this check already started a retraining"
    if last and now - datetime.fromisoformat(last) < timedelta(hours=spec.retrain.cooldown_hours):
        return f"cool-down: last retraining started {last}, cool-down is {spec.retrain.cooldown_hours} h"
    if len(starts) >= spec.retrain.max_per_day:
        return f"daily cap of {spec.retrain.max_per_day} retrainings reached"
    return None


def start_retraining(
    request: RetrainRequest,
    *,
    registry: Registry,
    sfn: SFNClient,
    state_machine_arn: str,
    now: datetime | None = None,
) -> RetrainResult:
    """Start the training pipeline for a drifted model, within its cool-down and daily cap.

    The start is reserved in the monitor state first, by a conditional write: of concurrent requests
    only as many as the cap allows get a reservation. The execution name derives from the check, so
    Step Functions itself refuses a duplicate start. The audit trail records why a retraining was
    started or skipped.
    """
    now = now or datetime.now(UTC)
    at = now.isoformat()
    spec = registry.get_spec(request.model_name)
    name = retrain_execution_name(spec.name, request.check_id)
    skip: str | None = None
    before = MonitorState()

    def reserve(state: MonitorState) -> MonitorState | None:
        nonlocal skip, before
        before, skip = state, _refusal(spec, state, name, now)
        if skip:
            return None
        recent = [t for t in state.retrains if now - datetime.fromisoformat(t) < timedelta(days=1)]
        return state.model_copy(
            update={"retrains": [*recent, at], "last_retrain_at": at, "last_retrain_execution": name}
        )

    def release(state: MonitorState) -> MonitorState | None:
        if state.last_retrain_execution != name:
            return None
        return state.model_copy(
            update={
                "retrains": [t for t in state.retrains if t != at],
                "last_retrain_at": before.last_retrain_at,
                "last_retrain_execution": before.last_retrain_execution,
            }
        )

    registry.update_monitor_state(spec.name, reserve)
    if skip is None:
        payload = PipelineInput(model_name=spec.name, reason=f"drift: {request.reason}")
        try:
            sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=payload.model_dump_json())
        except sfn.exceptions.ExecutionAlreadyExists:
            skip = "an execution for this check already exists"
        except Exception:
            registry.update_monitor_state(spec.name, release)  # nothing started: give the slot back
            raise
    if skip:
        registry.audit(spec.name, "retrain_skipped", MONITOR, {"check_id": request.check_id, "why": skip})
        return RetrainResult(model_name=spec.name, started=False, execution_name=name, reason=skip)
    registry.audit(
        spec.name, "retrain_started", MONITOR, {"check_id": request.check_id, "execution": name, "why": request.reason}
    )
    return RetrainResult(model_name=spec.name, started=True, execution_name=name, reason=request.reason)
