"""The steps of the monitor state machine: which models are due, the drift check, the retrain trigger."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcore.capture import read_window
from mlcore.drift import DriftReport, check_drift
from mlcore.messages import (
    DriftCheckResult,
    DueModel,
    ListDueRequest,
    ListDueResult,
    PipelineInput,
    RetrainRequest,
    RetrainResult,
)
from mlcore.pipeline import champion_version
from mlcore.registry import Registry
from mlcore.report import render_drift_html
from mlcore.storage import ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MONITOR = "monitor"


def _parse(at: str | None) -> datetime | None:
    return datetime.fromisoformat(at) if at else None


def list_due_models(request: ListDueRequest, *, registry: Registry, now: datetime | None = None) -> ListDueResult:
    """Models whose check interval has passed since their last check (all of them when `force` is set)."""
    now = now or datetime.now(UTC)
    force = bool(request.request.get("force"))
    only = set(request.request.get("models") or [])
    due = []
    for spec in registry.list_specs():
        if only and spec.name not in only:
            continue
        last = _parse(registry.get_monitor_state(spec.name).get("last_check_at"))
        if force or last is None or now - last >= timedelta(minutes=spec.monitor.every_minutes):
            due.append(DueModel(model_name=spec.name, window_hours=spec.drift.window_hours))
    return ListDueResult(models=due)


def _to_columns(spec: Any, raw: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    columns = {}
    for feature in spec.features:
        values = raw[feature.name]
        if feature.is_numeric:
            columns[feature.name] = np.array(
                [np.nan if not isinstance(v, int | float) or isinstance(v, bool) else v for v in values],
                dtype=np.float64,
            )
        else:
            columns[feature.name] = np.array(["" if v is None else str(v) for v in values], dtype=object)
    return columns


def run_drift_check(
    request: DueModel, *, registry: Registry, artifacts: ObjectStore, capture: ObjectStore, now: datetime | None = None
) -> DriftCheckResult:
    """Compare the window of captured traffic with the champion's training profile.

    Writes a JSON result and an HTML report to `monitoring/<model>/<check id>/` in the artifacts
    bucket, records the check on the model, and recommends retraining on dataset drift.
    """
    now = now or datetime.now(UTC)
    spec = registry.get_spec(request.model_name)
    champion = champion_version(registry, spec.name)
    check_id = f"{now:%Y%m%dT%H%M%S}"
    state = registry.get_monitor_state(spec.name)

    def finish(result: DriftCheckResult) -> DriftCheckResult:
        registry.put_monitor_state(
            spec.name, {**state, "last_check_at": now.isoformat(), "last_check": result.model_dump(mode="json")}
        )
        return result

    if champion is None:
        return finish(
            DriftCheckResult(
                model_name=spec.name,
                check_id=check_id,
                status="no_champion",
                rows=0,
                drifted_features=[],
                drift_share=0.0,
                dataset_drift=False,
                retrain_recommended=False,
                summary=f"'{spec.name}' has no champion yet",
            )
        )
    raw, predictions, _ = read_window(capture, spec.name, spec.feature_names, hours=request.window_hours, now=now)
    rows = len(predictions)
    if rows < spec.drift.min_rows:
        return finish(
            DriftCheckResult(
                model_name=spec.name,
                check_id=check_id,
                status="not_enough_data",
                rows=rows,
                drifted_features=[],
                drift_share=0.0,
                dataset_drift=False,
                retrain_recommended=False,
                summary=f"{rows} captured rows in the last {request.window_hours} h, {spec.drift.min_rows} needed",
            )
        )
    profile = json.loads(artifacts.get_verified(champion.artifacts["profile"]))
    report = check_drift(spec, champion.version, profile, _to_columns(spec, raw), np.asarray(predictions))
    prefix = f"monitoring/{spec.name}/{check_id}/"
    artifacts.put(prefix + "drift.json", report.model_dump_json(indent=2).encode(), "application/json")
    html = artifacts.put(prefix + "drift.html", render_drift_html(report).encode(), "text/html")
    summary = _summary(report)
    registry.audit(
        spec.name,
        "drift_checked",
        MONITOR,
        {"check_id": check_id, "rows": rows, "drifted": report.drifted_features, "share": report.drift_share},
    )
    return finish(
        DriftCheckResult(
            model_name=spec.name,
            check_id=check_id,
            status="drift" if report.dataset_drift else "ok",
            rows=rows,
            drifted_features=report.drifted_features,
            drift_share=report.drift_share,
            dataset_drift=report.dataset_drift,
            retrain_recommended=report.dataset_drift and spec.retrain.on_drift,
            summary=summary,
            report=html,
        )
    )


def _summary(report: DriftReport) -> str:
    verdict = "dataset drift" if report.dataset_drift else "no dataset drift"
    drifted = ", ".join(report.drifted_features) or "none"
    return (
        f"{report.model_name} v{report.version}: {verdict} ({report.drift_share:.0%} of features drifted: {drifted}) "
        f"over {report.rows} rows"
    )


def retrain_execution_name(model_name: str, check_id: str) -> str:
    """Deterministic per model and check, so a second delivery starts nothing.

    Step Functions allows 80 characters of `[A-Za-z0-9_-]`; the digest keeps names of long or
    unusual check ids distinct after they are shortened.
    """
    digest = hashlib.sha256(f"{model_name}/{check_id}".encode()).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", check_id)[:20]
    return f"{model_name[:40]}-retrain-{readable}-{digest}"


def start_retraining(
    request: RetrainRequest,
    *,
    registry: Registry,
    sfn: SFNClient,
    state_machine_arn: str,
    now: datetime | None = None,
) -> RetrainResult:
    """Start the training pipeline for a drifted model, within its cool-down and daily cap.

    The execution name derives from the check, so Step Functions itself refuses a duplicate start.
    The audit trail records why a retrain was started or skipped.
    """
    now = now or datetime.now(UTC)
    spec = registry.get_spec(request.model_name)
    state = registry.get_monitor_state(spec.name)
    name = retrain_execution_name(spec.name, request.check_id)
    starts = [t for t in state.get("retrains", []) if now - datetime.fromisoformat(t) < timedelta(days=1)]
    last = state.get("last_retrain_at")
    skip = None
    if state.get("last_retrain_execution") == name:
        skip = "this check already started a retraining"
    elif last and now - datetime.fromisoformat(last) < timedelta(hours=spec.retrain.cooldown_hours):
        skip = f"cool-down: last retraining started {last}, cool-down is {spec.retrain.cooldown_hours} h"
    elif len(starts) >= spec.retrain.max_per_day:
        skip = f"daily cap of {spec.retrain.max_per_day} retrainings reached"
    if skip is None:
        payload = PipelineInput(model_name=spec.name, reason=f"drift: {request.reason}")
        try:
            sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=payload.model_dump_json())
        except sfn.exceptions.ExecutionAlreadyExists:
            skip = "an execution for this check already exists"
    if skip:
        registry.audit(spec.name, "retrain_skipped", MONITOR, {"check_id": request.check_id, "why": skip})
        return RetrainResult(model_name=spec.name, started=False, execution_name=name, reason=skip)
    registry.put_monitor_state(
        spec.name,
        {
            **state,
            "retrains": [*starts, now.isoformat()],
            "last_retrain_at": now.isoformat(),
            "last_retrain_execution": name,
        },
    )
    registry.audit(
        spec.name, "retrain_started", MONITOR, {"check_id": request.check_id, "execution": name, "why": request.reason}
    )
    return RetrainResult(model_name=spec.name, started=True, execution_name=name, reason=request.reason)
