"""The steps of the training pipeline, one function per state of statemachines/training.asl.json."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlcore.contract import check_contract, read_table
from mlcore.errors import DataValidationError, GateFailedError, NotFoundError
from mlcore.evaluation import apply_gate, score
from mlcore.messages import (
    EvaluateRequest,
    EvaluateResult,
    PromoteRequest,
    PromoteResult,
    RegisterRequest,
    RegisterResult,
    TrainingResult,
    ValidateRequest,
    ValidateResult,
)
from mlcore.registry import CHAMPION, ModelVersion, Registry, VersionStatus, utc_now
from mlcore.serving import OnnxModel, signature_of
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore, S3Uri

PIPELINE = "training-pipeline"


def run_prefix(model_name: str, run_id: str) -> str:
    return f"runs/{model_name}/{run_id}/"


def dataset_prefix(model_name: str) -> str:
    return f"datasets/{model_name}/"


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def read_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def _latest_dataset_key(model_name: str, data: ObjectStore) -> str:
    keys = sorted(data.list_keys(dataset_prefix(model_name)))
    if not keys:
        raise NotFoundError(f"no dataset under s3://{data.bucket}/{dataset_prefix(model_name)}; upload one first")
    return keys[-1]


def split_holdout(table: pa.Table, spec: ModelSpec) -> tuple[pa.Table, pa.Table]:
    """Deterministic train/holdout split by the spec's seed and fraction."""
    order = np.random.default_rng(spec.data.seed).permutation(table.num_rows)
    cut = round(table.num_rows * spec.data.holdout_fraction)
    return table.take(np.sort(order[cut:])), table.take(np.sort(order[:cut]))


def validate_dataset(
    request: ValidateRequest, *, registry: Registry, data: ObjectStore, artifacts: ObjectStore
) -> ValidateResult:
    """Check the dataset against the spec's contract, snapshot it and split train/holdout.

    Raises
    ------
    DataValidationError
        On a blocking contract failure; the report is written to the run's folder first and the
        registry is not touched.
    """
    name, run_id = request.request.model_name, request.run_id
    spec = registry.get_spec(name)
    if request.request.dataset_uri:
        location = S3Uri.parse(request.request.dataset_uri)
        if location.bucket != data.bucket:
            raise DataValidationError(f"dataset_uri must be in the data bucket {data.bucket}", field="dataset_uri")
        key = location.key
    else:
        key = _latest_dataset_key(name, data)
    raw = data.get(key)
    prefix = run_prefix(name, run_id)
    snapshot = artifacts.put(prefix + "dataset" + key[key.rfind(".") :], raw)
    clean, report = check_contract(read_table(raw, key), spec)
    report_doc = {
        "model_name": name,
        "run_id": run_id,
        "dataset": snapshot.model_dump(),
        **report.model_dump(mode="json"),
    }
    report_artifact = artifacts.put(
        prefix + "validation.json", json.dumps(report_doc, indent=2).encode(), "application/json"
    )
    if report.blocking:
        raise DataValidationError(f"dataset {key} breaks the contract of '{name}': {report.summary()}")
    train, holdout = split_holdout(clean, spec)
    return ValidateResult(
        model_name=name,
        run_id=run_id,
        reason=request.request.reason,
        dataset=snapshot,
        train=artifacts.put(prefix + "train.parquet", _parquet(train)),
        holdout=artifacts.put(prefix + "holdout.parquet", _parquet(holdout)),
        rows=clean.num_rows,
        warnings=[f"{w.check}({w.column}): {w.message}" for w in report.warnings],
        report=report_artifact,
    )


def load_served_model(version: ModelVersion, artifacts: ObjectStore) -> OnnxModel:
    """An ONNX session of a registered version, after verifying the artifact's SHA-256."""
    return OnnxModel(artifacts.get_verified(version.artifacts["model"]), version.signature, version.classes)


def champion_version(registry: Registry, name: str) -> ModelVersion | None:
    alias = registry.get_alias(name, CHAMPION)
    return registry.get_version(name, alias.version) if alias else None


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


def train_candidate(
    model_name: str, run_id: str, *, registry: Registry, artifacts: ObjectStore, image: str = ""
) -> TrainingResult:
    """The Batch job: fit, export to ONNX, prove parity, profile, score candidate and champion on the holdout.

    Raises
    ------
    ConversionError, ParityError
        When the model cannot be served as ONNX; nothing is written to the registry.
    """
    from mlcore.drift import build_profile
    from mlcore.training import check_parity, export_onnx, fit, table_columns

    spec = registry.get_spec(model_name)
    prefix = run_prefix(model_name, run_id)
    train = read_parquet(artifacts.get(prefix + "train.parquet"))
    holdout = read_parquet(artifacts.get(prefix + "holdout.parquet"))
    pipeline, classes = fit(spec, train)
    signature = signature_of(spec.features)
    onnx_bytes = export_onnx(pipeline, spec)
    candidate = OnnxModel(onnx_bytes, signature, classes)
    holdout_columns = table_columns(holdout, spec)
    parity = check_parity(pipeline, candidate, holdout_columns, spec)
    truth = np.asarray(holdout.column(spec.target).to_pylist())
    metrics = score(spec, truth, candidate.predict(holdout_columns), classes)
    train_columns = table_columns(train, spec)
    profile = build_profile(spec, train_columns, candidate.predict(train_columns)["label"])
    champion = champion_version(registry, model_name)
    champion_metrics = None
    if champion is not None:
        served = load_served_model(champion, artifacts)
        champion_metrics = score(spec, truth, served.predict(holdout_columns), champion.classes)
    result = TrainingResult(
        model_name=model_name,
        run_id=run_id,
        estimator=spec.estimator.kind,
        artifacts={
            "model": artifacts.put(prefix + "model.onnx", onnx_bytes),
            "profile": artifacts.put(prefix + "profile.json", json.dumps(profile).encode(), "application/json"),
        },
        metrics=metrics,
        signature=signature,
        classes=classes,
        training_rows=train.num_rows,
        holdout_rows=holdout.num_rows,
        parity_max_abs_diff=parity,
        champion_version=champion.version if champion else None,
        champion_metrics=champion_metrics,
        image=image,
    )
    artifacts.put(prefix + "candidate.json", result.model_dump_json(indent=2).encode(), "application/json")
    return result
