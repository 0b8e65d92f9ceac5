"""The light steps of the training pipeline: evaluate, register, promote (core layer only).

The validate step is in mlcore.validation (pyarrow), training in mlcore.training (the Batch image).
"""

from __future__ import annotations

from mlcore.errors import GateFailedError
from mlcore.gate import apply_gate
from mlcore.messages import (
    EvaluateRequest,
    EvaluateResult,
    PromoteRequest,
    PromoteResult,
    RegisterRequest,
    RegisterResult,
    TrainingResult,
)
from mlcore.registry import ModelVersion, Registry, VersionStatus, utc_now
from mlcore.storage import ObjectStore

PIPELINE = "training-pipeline"


def run_prefix(model_name: str, run_id: str) -> str:
    return f"runs/{model_name}/{run_id}/"


def dataset_prefix(model_name: str) -> str:
    return f"datasets/{model_name}/"


def read_candidate(model_name: str, run_id: str, artifacts: ObjectStore) -> TrainingResult:
    return TrainingResult.model_validate_json(artifacts.get(run_prefix(model_name, run_id) + "candidate.json"))


def evaluate_candidate(request: EvaluateRequest, *, registry: Registry, artifacts: ObjectStore) -> EvaluateResult:
    """Apply the evaluation gate to what the training job measured on the run's holdout."""
    spec = registry.get_spec(request.model_name)
    result = apply_gate(spec, read_candidate(request.model_name, request.run_id, artifacts))
    if not result.passed:
        registry.audit(
            request.model_name, "candidate_rejected", PIPELINE, {"run_id": request.run_id, "reason": result.reason}
        )
    return result


def register_candidate(request: RegisterRequest, *, registry: Registry, artifacts: ObjectStore) -> RegisterResult:
    """Register a candidate that passed the gate (idempotent per pipeline run)."""
    evaluation = request.evaluation
    if not evaluation.passed:
        raise GateFailedError(f"run {evaluation.run_id} failed the evaluation gate: {evaluation.reason}")
    spec = registry.get_spec(evaluation.model_name)
    existing = registry.find_version_by_run(spec.name, evaluation.run_id)
    if existing is None:
        candidate = read_candidate(spec.name, evaluation.run_id, artifacts)
        # Prove the artifacts are intact before the registry vouches for them.
        for artifact in candidate.artifacts.values():
            artifacts.get_verified(artifact)
        status = VersionStatus.APPROVED if spec.approval == "auto" else VersionStatus.PENDING
        existing = registry.register_version(
            ModelVersion(
                model_name=spec.name,
                version=registry.allocate_version(spec.name),
                run_id=evaluation.run_id,
                status=status,
                created_at=utc_now(),
                artifacts=candidate.artifacts,
                metrics=candidate.metrics,
                signature=candidate.signature,
                classes=candidate.classes,
                training_rows=candidate.training_rows,
                holdout_rows=candidate.holdout_rows,
                image=candidate.image,
                notes=evaluation.reason,
            ),
            actor=PIPELINE,
        )
    return RegisterResult(
        model_name=spec.name, version=existing.version, status=existing.status, reason=evaluation.reason
    )


def promote_version(request: PromoteRequest, *, registry: Registry, actor: str = PIPELINE) -> PromoteResult:
    """Point an alias at a version (a no-op when it already does)."""
    current = registry.get_alias(request.model_name, request.alias)
    if current and current.version == request.version:
        return PromoteResult(
            model_name=request.model_name,
            alias=request.alias,
            version=request.version,
            previous_version=current.previous_version,
        )
    record = registry.set_alias(request.model_name, request.alias, request.version, actor, request.reason)
    return PromoteResult(
        model_name=request.model_name,
        alias=request.alias,
        version=record.version,
        previous_version=record.previous_version,
    )
