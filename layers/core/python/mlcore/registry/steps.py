"""The registry's steps of the training pipeline: register a candidate, wait for a person's decision, promote a version
(core layer only)."""

from __future__ import annotations

import time
from collections.abc import Callable

from mlcore.catalog import (
    ApprovalRequest,
    ApprovalResult,
    PromoteRequest,
    PromoteResult,
    RegisterRequest,
    RegisterResult,
    RunFile,
    TrainedModel,
    TrainingResult,
    run_key,
)
from mlcore.errors import ConflictError, GateFailedError, VersionApprovedError, VersionRejectedError
from mlcore.registry.records import ModelVersion, VersionStatus, utc_now
from mlcore.registry.table import Registry
from mlcore.spec import check_not_retired, spec_sha256
from mlcore.storage import ObjectStore

PIPELINE = "training-pipeline"
REGISTERED_MEANWHILE_ATTEMPTS = 4


def read_candidate(model_name: str, run_id: str, artifacts: ObjectStore) -> TrainingResult:
    """What the training job measured and wrote for a run (`candidate.json`)."""
    return TrainingResult.model_validate_json(artifacts.get(run_key(model_name, run_id, RunFile.CANDIDATE)))


def register_candidate(
    request: RegisterRequest, *, registry: Registry, artifacts: ObjectStore, code_version: str = ""
) -> RegisterResult:
    """Register a candidate that passed the gate (idempotent per pipeline run), with its lineage: the platform's
    commit (`code_version`) and the spec's SHA-256 besides what the training job recorded."""
    evaluation = request.evaluation
    if not evaluation.passed:
        raise GateFailedError(f"run {evaluation.run_id} failed the evaluation gate: {evaluation.reason}")
    spec = registry.get_spec(evaluation.model_name)
    existing = registry.find_version_by_run(spec.name, evaluation.run_id)
    if existing is None:
        check_not_retired(spec)  # retired while its run trained: no version of it is made
        candidate = read_candidate(spec.name, evaluation.run_id, artifacts)
        # Prove the artifacts are intact before the registry vouches for them (and the training rows a later
        # candidate's comparison with this version reads).
        hashes = [candidate.training_row_hashes] if candidate.training_row_hashes else []
        for artifact in [*candidate.artifacts.values(), *hashes]:
            artifacts.get_verified(artifact)
        held = evaluation.held  # the gate asks for a person whatever the approval
        status = VersionStatus.APPROVED if spec.approval == "auto" and not held else VersionStatus.PENDING
        try:
            existing = registry.register_version(
                ModelVersion(
                    **candidate.model_dump(include=set(TrainedModel.model_fields)),
                    version=registry.allocate_version(spec.name),
                    status=status,
                    created_at=utc_now(),
                    notes=evaluation.reason,
                    code_version=code_version,
                    spec_sha256=spec_sha256(spec),
                ),
                actor=PIPELINE,
            )
        except ConflictError:  # the same run registered meanwhile (a retried step): its version is the answer
            existing = _registered_meanwhile(registry, spec.name, evaluation.run_id)
    pending = existing.status is VersionStatus.PENDING
    return RegisterResult(
        model_name=spec.name,
        version=existing.version,
        status=existing.status,
        reason=evaluation.reason,
        champion_version=evaluation.champion_version,
        approval_timeout_seconds=max(1, round(spec.approval_timeout_hours * 3600)) if pending else None,
        held=evaluation.held if pending else "",
    )


def _registered_meanwhile(registry: Registry, name: str, run_id: str) -> ModelVersion:
    """The version another register step of the run wrote, waiting a little for a write still committing.

    Raises
    ------
    ConflictError
        When none appears: the registration failed for another reason.
    """
    for attempt in range(REGISTERED_MEANWHILE_ATTEMPTS):
        found = registry.find_version_by_run(name, run_id)
        if found is not None:
            return found
        time.sleep(0.1 * (attempt + 1))
    raise ConflictError(f"run {run_id} of '{name}' could not register its version, and no other step did")


def promote_version(request: PromoteRequest, *, registry: Registry, actor: str = PIPELINE) -> PromoteResult:
    """Point an alias at a version (a no-op when it already does); the pipeline's, only over the champion its
    candidate was gated against.

    Raises
    ------
    ConflictError
        When the alias moved since the candidate was gated (a promotion or a recall meanwhile): nothing changes.
    """
    check_not_retired(registry.get_spec(request.model_name))  # a run in flight when it was retired serves nothing
    current = registry.get_alias(request.model_name, request.alias)
    if current and current.version == request.version:
        return PromoteResult(
            model_name=request.model_name,
            alias=request.alias,
            version=request.version,
            previous_version=current.previous_version,
        )
    record = registry.set_alias(
        request.model_name,
        request.alias,
        request.version,
        actor,
        request.reason,
        if_current=request.gated_against if request.gated else ...,
    )
    return PromoteResult(
        model_name=request.model_name,
        alias=request.alias,
        version=record.version,
        previous_version=record.previous_version,
    )


APPROVAL_TIMEOUT = "training-pipeline: approval timed out"  # the actor of a rejection nobody decided


def _metrics_line(metrics: dict[str, float], against: dict[str, float] | None) -> str:
    return ", ".join(
        f"{name} {value:.4f}" + (f" (champion {against[name]:.4f})" if against and name in against else "")
        for name, value in sorted(metrics.items())
    )


def request_decision(
    request: ApprovalRequest, *, registry: Registry, alert: Callable[[str, str, str], None]
) -> ApprovalResult:
    """Ask for a person's decision on a pending version (its pipeline waits with `request.token`), or, once the
    wait timed out (`request.expire`), reject it.

    Raises
    ------
    VersionApprovedError, VersionRejectedError
        When the version was decided before the pipeline asked: the pipeline goes on as for that decision.
    """
    name, number = request.model_name, request.version
    spec = registry.get_spec(name)
    if request.expire:
        version = registry.get_version(name, number)
        said = f"{name} v{number} is {version.status}"
        if version.status is VersionStatus.PENDING:
            reason = f"no decision within {spec.approval_timeout_hours:g} h"
            version = registry.set_status(name, number, VersionStatus.REJECTED, APPROVAL_TIMEOUT, reason)
            said = f"{name} v{number} is rejected: {reason}"
            alert(f"{name} v{number} rejected: no decision in time", f"{said} (run {request.run_id}).", name)
        return ApprovalResult(model_name=name, version=number, status=version.status, said=said)
    if not request.token:
        raise ValueError("the approval step needs the task token ($$.Task.Token) to wait with")
    if spec.retired:  # retired while its run was in flight: nobody is asked, and its pipeline ends without promoting
        registry.set_status(name, number, VersionStatus.REJECTED, PIPELINE, "the model is retired")
        raise VersionRejectedError(f"{name} v{number} is rejected: the model is retired")
    version = registry.await_decision(name, number, request.token)
    if version.status is VersionStatus.APPROVED:
        raise VersionApprovedError(f"{name} v{number} was approved before its pipeline asked")
    if version.status is not VersionStatus.PENDING:
        raise VersionRejectedError(f"{name} v{number} is {version.status}: not promoted")
    champion = registry.get_version(name, request.champion_version) if request.champion_version else None
    lines = [
        f"{name} v{number} (run {request.run_id}) passed the evaluation gate and waits for a decision: "
        f"{version.notes}".rstrip(": "),
        f"Metrics on the holdout: {_metrics_line(version.metrics, champion.metrics if champion else None)}"
        + ("" if champion else " (no champion yet)"),
        f"Approve: mlops models approve {name} {number} --reason '...'  (then the pipeline promotes it)",
        f"Reject:  mlops models reject {name} {number} --reason '...'",
        f"Without a decision within {spec.approval_timeout_hours:g} h it is rejected.",
    ]
    alert(f"{name} v{number} awaits approval", "\n".join(lines), name)
    return ApprovalResult(model_name=name, version=number, status=version.status, said=lines[0])
