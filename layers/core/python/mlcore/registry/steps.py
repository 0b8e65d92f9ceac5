"""The registry's steps of the training pipeline: register a candidate, promote a version (core layer only)."""

from __future__ import annotations

import time

from mlcore.catalog import (
    PromoteRequest,
    PromoteResult,
    RegisterRequest,
    RegisterResult,
    RunFile,
    TrainedModel,
    TrainingResult,
    run_key,
)
from mlcore.errors import ConflictError, GateFailedError
from mlcore.registry.records import ModelVersion, VersionStatus, utc_now
from mlcore.registry.table import Registry
from mlcore.storage import ObjectStore

PIPELINE = "training-pipeline"
REGISTERED_MEANWHILE_ATTEMPTS = 4


def read_candidate(model_name: str, run_id: str, artifacts: ObjectStore) -> TrainingResult:
    """What the training job measured and wrote for a run (`candidate.json`)."""
    return TrainingResult.model_validate_json(artifacts.get(run_key(model_name, run_id, RunFile.CANDIDATE)))


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
        try:
            existing = registry.register_version(
                ModelVersion(
                    **candidate.model_dump(include=set(TrainedModel.model_fields)),
                    version=registry.allocate_version(spec.name),
                    status=status,
                    created_at=utc_now(),
                    notes=evaluation.reason,
                ),
                actor=PIPELINE,
            )
        except ConflictError:  # the same run registered meanwhile (a retried step): its version is the answer
            existing = _registered_meanwhile(registry, spec.name, evaluation.run_id)
    return RegisterResult(
        model_name=spec.name,
        version=existing.version,
        status=existing.status,
        reason=evaluation.reason,
        champion_version=evaluation.champion_version,
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
