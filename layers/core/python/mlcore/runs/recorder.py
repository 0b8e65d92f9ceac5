"""The record step: every pipeline run becomes a run record, whatever became of it.

It reads what the run left: its inputs (`inputs.json`), what the training job measured
(`candidate.json`), the gate's verdict (`evaluation.json`), a search's trials, the registry's
version, and the execution's history (each step's duration, the Batch jobs' usage).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlcore.catalog import (
    TRAINING_JOB,
    CrossValidation,
    EvaluateResult,
    RecordRunRequest,
    RecordRunResult,
    RunFile,
    TrainingResult,
    ValidateResult,
    pricing,
    run_key,
    trials_prefix,
)
from mlcore.errors import ConflictError, NotFoundError
from mlcore.registry import BatchUsage, Registry, RunRecord, RunStatus, StepTime
from mlcore.runs.export import export_runs
from mlcore.spec import spec_sha256
from mlcore.storage import ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient
    from mypy_boto3_stepfunctions import SFNClient

NOTHING_NEW = "skipped: nothing new"
_TIMED_STATES = ("TaskStateEntered", "MapStateEntered", "TaskStateExited", "MapStateExited")


def _at(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def step_times(history: Iterable[dict[str, Any]]) -> list[StepTime]:
    """How long each task (and Map) state took, from an execution's history, in the order they first ran."""
    entered: dict[str, list[datetime]] = {}
    times: dict[str, StepTime] = {}
    for event in history:
        kind = event.get("type", "")
        if kind not in _TIMED_STATES:
            continue
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        name = details.get("name", "")
        if kind.endswith("Entered"):
            entered.setdefault(name, []).append(_at(event["timestamp"]))
        elif entered.get(name):
            seconds = (_at(event["timestamp"]) - entered[name].pop(0)).total_seconds()
            known = times.get(name)
            times[name] = (
                StepTime(step=name, seconds=known.seconds + seconds, count=known.count + 1)
                if known
                else StepTime(step=name, seconds=seconds)
            )
    return list(times.values())


def _job_of(event: dict[str, Any]) -> dict[str, Any] | None:
    """The Batch job description a `submitJob.sync` task ended with (its output, or its failure's cause)."""
    details = event.get("taskSucceededEventDetails") or event.get("taskFailedEventDetails") or {}
    if details.get("resourceType") != "batch":
        return None
    try:
        job = json.loads(details.get("output") or details.get("cause") or "")
    except ValueError:
        return None
    return job if isinstance(job, dict) else None


def _resources(job: dict[str, Any]) -> tuple[float, float]:
    """The job's vCPUs and GB of memory: from its container, else the catalog's job definition."""
    container = job.get("Container") or {}
    requirements = {r.get("Type"): r.get("Value") for r in container.get("ResourceRequirements") or []}
    vcpus = float(requirements.get("VCPU") or TRAINING_JOB.vcpus)
    memory_gb = float(requirements["MEMORY"]) / 1024 if requirements.get("MEMORY") else float(TRAINING_JOB.memory_gib)
    return vcpus, memory_gb


def batch_usage(history: Iterable[dict[str, Any]]) -> BatchUsage:
    """vCPU-seconds and GB-seconds of the run's Batch jobs (started to stopped), with Fargate's price."""
    usage = BatchUsage()
    for event in history:
        job = _job_of(event)
        if job is None or not job.get("StartedAt") or not job.get("StoppedAt"):
            continue
        seconds = max(0.0, (int(job["StoppedAt"]) - int(job["StartedAt"])) / 1000)
        vcpus, memory_gb = _resources(job)
        usage.jobs += 1
        usage.vcpu_seconds += vcpus * seconds
        usage.gb_seconds += memory_gb * seconds
    usage.cost_usd = round(
        usage.vcpu_seconds / 3600 * pricing.FARGATE_VCPU_HOUR_USD
        + usage.gb_seconds / 3600 * pricing.FARGATE_GB_HOUR_USD,
        6,
    )
    return usage


def _read(artifacts: ObjectStore, model: str, run_id: str, file: RunFile) -> bytes | None:
    try:
        return artifacts.get(run_key(model, run_id, file))
    except NotFoundError:
        return None


def _failure(state: dict[str, Any]) -> str:
    """`failed at <step>: <what>` from the failure report the pipeline made (or the raw error)."""
    step = str(state.get("step") or "a step")
    report = state.get("report")
    if isinstance(report, dict) and report.get("message"):
        message = str(report["message"]).removeprefix(f"{step} failed: ").split("\n", 1)[0]
    else:
        error = state.get("error") if isinstance(state.get("error"), dict) else {}
        message = f"{error.get('Error', 'unknown error')}: {error.get('Cause', '')}".strip(": ")  # type: ignore[union-attr]
    return f"failed at {step}: {message}"


def _trials(artifacts: ObjectStore, parent: RunRecord) -> list[RunRecord]:
    """A search's trials as child runs of the parent run; the one the run refitted says `best`."""
    summary = _read(artifacts, parent.model_name, parent.run_id, RunFile.SEARCH)
    best = json.loads(summary)["best"] if summary else None
    children = []
    for key in sorted(artifacts.list_keys(trials_prefix(parent.model_name, parent.run_id))):
        trial = json.loads(artifacts.get(key))
        cv = trial.get("cross_validation") or {}
        failed = trial.get("error")
        children.append(
            parent.model_copy(
                update={
                    "run_id": f"{parent.run_id}-trial-{trial['trial']:03d}",
                    "parent_run_id": parent.run_id,
                    "trial": trial["trial"],
                    "status": RunStatus.TRIAL,
                    "outcome": f"failed: {failed}" if failed else "best" if trial["trial"] == best else "trial",
                    "params": trial.get("params", {}),
                    "metrics": {metric: score["mean"] for metric, score in cv.items()},
                    "cross_validation": {m: CrossValidation.model_validate(v) for m, v in cv.items()} or None,
                    "segments": [],
                    "champion_version": None,
                    "champion_metrics": None,
                    "compared_rows": None,
                    "compared_metrics": None,
                    "comparison": None,
                    "gate_passed": None,
                    "gate_reason": "",
                    "version": None,
                    "steps": [StepTime(step="Trial", seconds=float(trial.get("seconds", 0.0)))],
                    "batch": BatchUsage(),
                }
            )
        )
    return children


def build_record(
    request: RecordRunRequest,
    *,
    registry: Registry,
    artifacts: ObjectStore,
    history: list[dict[str, Any]],
    started_at: str,
    code_version: str,
    now: datetime | None = None,
) -> tuple[RunRecord, list[RunRecord]]:
    """The run's record and its search trials' (child runs)."""
    model, run_id = request.model_name, request.run_id
    spec = registry.get_spec(model)
    raw_inputs = _read(artifacts, model, run_id, RunFile.INPUTS)
    raw_candidate = _read(artifacts, model, run_id, RunFile.CANDIDATE)
    raw_evaluation = _read(artifacts, model, run_id, RunFile.EVALUATION)
    inputs = ValidateResult.model_validate_json(raw_inputs) if raw_inputs else None
    candidate = TrainingResult.model_validate_json(raw_candidate) if raw_candidate else None
    evaluation = EvaluateResult.model_validate_json(raw_evaluation) if raw_evaluation else None
    version = registry.find_version_by_run(model, run_id)
    status = RunStatus(request.outcome)
    outcome = {
        RunStatus.REGISTERED: f"registered v{version.version}" if version else "registered",
        RunStatus.REJECTED: "rejected",
        RunStatus.SKIPPED: NOTHING_NEW,
        RunStatus.FAILED: _failure(request.state),
    }[status]
    record = RunRecord(
        run_id=run_id,
        model_name=model,
        trigger=request.input.trigger,
        reason=request.input.reason,
        event_id=request.input.event_id,
        started_by=request.input.started_by,
        status=status,
        outcome=outcome,
        started_at=started_at,
        ended_at=(now or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        spec_sha256=spec_sha256(spec),
        estimator=spec.estimator.kind,
        params=candidate.params if candidate else dict(spec.estimator.params),
        features=[field.name for field in candidate.signature] if candidate else [],
        datasets=inputs.sources if inputs else [],
        fingerprint=inputs.fingerprint if inputs else "",
        code_version=code_version,
        image=candidate.image if candidate else "",
        training_code=inputs.code.uri if inputs and inputs.code else "",
        primary_metric=spec.metrics.primary,
        metrics=candidate.metrics if candidate else {},
        segments=candidate.segments if candidate else [],
        threshold=candidate.threshold if candidate else None,
        cross_validation=candidate.cross_validation if candidate else None,
        champion_version=candidate.champion_version if candidate else None,
        champion_metrics=candidate.champion_metrics if candidate else None,
        compared_rows=candidate.compared_rows if candidate else None,
        compared_metrics=candidate.compared_metrics if candidate else None,
        comparison=candidate.comparison if candidate else None,
        gate_passed=evaluation.passed if evaluation else None,
        gate_reason=evaluation.reason if evaluation else "",
        version=version.version if version else None,
        steps=step_times(history),
        batch=batch_usage(history),
    )
    return record, _trials(artifacts, record)


def execution_history(sfn: SFNClient, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(dict(event) for event in page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def record_run(
    request: RecordRunRequest,
    *,
    registry: Registry,
    artifacts: ObjectStore,
    sfn: SFNClient,
    glue: GlueClient,
    database: str,
    code_version: str,
) -> RecordRunResult:
    """The record step: the run (and its search's trials) in the registry and in the Parquet export.

    Idempotent: a retried step finds the run recorded and only exports it again.
    """
    started = sfn.describe_execution(executionArn=request.execution_arn)["startDate"]
    record, children = build_record(
        request,
        registry=registry,
        artifacts=artifacts,
        history=execution_history(sfn, request.execution_arn),
        started_at=started.isoformat(timespec="milliseconds"),
        code_version=code_version,
    )
    for run in (record, *children):
        with contextlib.suppress(ConflictError):  # recorded by an earlier attempt of this step
            registry.put_run(run)
    export_runs([record, *children], artifacts=artifacts, glue=glue, database=database)
    if record.status is RunStatus.SKIPPED:  # a retraining run that found nothing new gives its slot back
        registry.update_monitor_state(record.model_name, lambda state: state.learned_nothing(record.run_id))
    return RecordRunResult(run_id=record.run_id, status=record.status, outcome=record.outcome, children=len(children))
