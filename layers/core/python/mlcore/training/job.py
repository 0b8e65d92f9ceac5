"""The Batch training job: fit, export to ONNX, prove parity, profile, and score candidate and champion;
or, after a model's own image trained it, check what the image wrote and do the same from parity on.

Only the training image runs this (scikit-learn does not fit in a Lambda package).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcore.catalog import (
    Artifact,
    Comparison,
    CrossValidation,
    RunFile,
    SignatureField,
    TrainingResult,
    ValidateResult,
    run_key,
)
from mlcore.data import build_profile, read_split, row_hashes
from mlcore.errors import TrainingError
from mlcore.registry import ModelVersion, Registry
from mlcore.serving import OnnxModel, load_served_model, signature_of, tensors_from_columns
from mlcore.spec import ModelSpec, Task
from mlcore.storage import ObjectStore
from mlcore.training.custom import install_code
from mlcore.training.evaluation import (
    outputs_at,
    paired_bootstrap,
    permutation_importance,
    pick_threshold,
    score,
    segment_metrics,
)
from mlcore.training.export import check_parity, compare_outputs, export_onnx
from mlcore.training.image import read_image_output
from mlcore.training.pipeline import cross_validate, fit, resolved_params, table_columns
from mlcore.training.search import best_trial

# The interval's confidence when only cross-validation asks for one (`metrics.confidence` unset).
DEFAULT_CONFIDENCE = 0.95


def decision_threshold(spec: ModelSpec, classes: list[str] | None, truth: np.ndarray, proba: np.ndarray) -> float:
    """The threshold `metrics.threshold` asks for, picked on the holdout's probabilities of the second class.

    Raises
    ------
    TrainingError
        When the model is not a binary classifier, or no threshold reaches the precision asked for.
    """
    assert spec.metrics.threshold is not None
    if classes is None or len(classes) != 2:
        raise TrainingError(f"metrics.threshold is for binary classifiers; '{spec.name}' has classes {classes}")
    positive = truth.astype(str) == classes[1]
    threshold = pick_threshold(positive, proba[:, 1], spec.metrics.threshold)
    if threshold is None:
        raise TrainingError(
            f"metrics.threshold: no decision threshold reaches precision {spec.metrics.threshold.precision:g} "
            f"for class '{classes[1]}' on the holdout ({int(positive.sum())} of {len(positive)} rows); "
            "not registering"
        )
    return threshold


def check_holdout_labels(spec: ModelSpec, holdout: pa.Table, classes: list[str] | None) -> None:
    """Every label of the holdout is one the model learned: a label too rare to reach the training rows (a typo
    in the data, often) would be scored wrong in silence.

    Raises
    ------
    TrainingError
        Naming the labels and their rows, and the spec's `classes`, which makes the contract refuse such rows.
    """
    if classes is None or spec.target not in holdout.column_names:
        return
    # as text the way the classes are (str of each of the model's labels) and the evaluation compares them
    labels, counts = np.unique(
        np.asarray(pc.drop_null(holdout.column(spec.target)).to_pylist()).astype(str), return_counts=True
    )
    unseen = {
        label: int(count) for label, count in zip(labels.tolist(), counts.tolist(), strict=True) if label not in classes
    }
    if unseen:
        rows = ", ".join(
            f"{label!r} ({count} row{'s' if count != 1 else ''})" for label, count in sorted(unseen.items())
        )
        raise TrainingError(
            f"target '{spec.target}': the holdout has labels no training row has: {rows}; the model learned "
            f"{classes}. Correct the data, or list the labels in the spec's `classes` so that the contract "
            "refuses rows labelled otherwise"
        )


def check_declared_classes(spec: ModelSpec, classes: list[str] | None) -> None:
    """Every class the spec's `classes` lists is one the model learned: a class without a training row is one the
    model can never answer, and the API would refuse its labels as feedback.

    Raises
    ------
    TrainingError
        Naming the classes without a row, and what the model learned.
    """
    if classes is None or spec.classes is None:
        return
    unlearned = [label for label in spec.classes if label not in classes]
    if unlearned:
        raise TrainingError(
            f"target '{spec.target}': the spec's classes list {unlearned}, which no training row has, so the model "
            f"could never predict {'it' if len(unlearned) == 1 else 'them'}; it learned {classes}. Add rows so "
            f"labelled, or leave {'it' if len(unlearned) == 1 else 'them'} out of `classes`"
        )


@dataclass(frozen=True)
class RunData:
    """What a run's training job reads: the spec, the validate step's result, the split."""

    spec: ModelSpec
    inputs: ValidateResult
    train: pa.Table
    holdout: pa.Table


def _run_data(model_name: str, run_id: str, registry: Registry, artifacts: ObjectStore) -> RunData:
    inputs = ValidateResult.model_validate_json(artifacts.get(run_key(model_name, run_id, RunFile.INPUTS)))
    return RunData(
        spec=registry.get_spec(model_name),
        inputs=inputs,
        train=read_split(artifacts, inputs.train),
        holdout=read_split(artifacts, inputs.holdout),
    )


def train_candidate(
    model_name: str, run_id: str, *, registry: Registry, artifacts: ObjectStore, image: str = ""
) -> TrainingResult:
    """The Batch job: fit, export to ONNX, prove parity, profile, score candidate and champion on the holdout.

    Raises
    ------
    ConversionError, ParityError
        When the model cannot be served as ONNX; nothing is written to the registry.
    TrainingError
        When the spec's class weights or decision threshold do not fit the data, or the holdout has a label that
        no training row has.
    SearchError
        When the run searched and no trial could be scored.
    """
    run = _run_data(model_name, run_id, registry, artifacts)
    spec, inputs = run.spec, run.inputs
    if inputs.code is not None:
        install_code(inputs.code, artifacts)
    # After a search, the best trial's parameters, refitted on the whole training set.
    planned = [int(trial.trial) for trial in inputs.trials]
    params = best_trial(spec, run_id, artifacts, planned)["params"] if planned else None
    pipeline, classes = fit(spec, run.train, params)
    onnx_bytes = export_onnx(pipeline, spec)
    candidate = OnnxModel(onnx_bytes, signature_of(spec.features), classes)
    parity = check_parity(pipeline, candidate, table_columns(run.holdout, spec), spec)
    folds = spec.data.cv_folds
    return _assess(
        run,
        run_id,
        candidate,
        onnx_bytes,
        parity,
        registry=registry,
        artifacts=artifacts,
        image=image,
        # class weights are applied as sample weights, so the estimator's own class_weight does not show them
        params={
            **resolved_params(pipeline),
            **({"class_weight": weights} if (weights := spec.estimator.class_weight) else {}),
        },
        cross_validation=cross_validate(spec, run.train, folds, params) if folds else None,
    )


def adopt_candidate(model_name: str, run_id: str, *, registry: Registry, artifacts: ObjectStore) -> TrainingResult:
    """The job after a model's own image: check what the image wrote, prove parity, profile, score on the holdout.

    Raises
    ------
    ImageContractError
        When a file the contract asks for is missing or is not what it says, naming it.
    ParityError
        When the ONNX model does not reproduce the image's own predictions on the holdout.
    """
    run = _run_data(model_name, run_id, registry, artifacts)
    spec = run.spec
    assert spec.training.image is not None  # validate planned an image job
    written = read_image_output(spec, run_id, artifacts, run.holdout.num_rows)
    candidate = written.model(spec)
    what = f"the image {spec.training.image}"
    parity = compare_outputs(
        written.expected, candidate.predict(table_columns(run.holdout, spec)), spec, what, "its own predictions"
    )
    reported = artifacts.put(run_key(model_name, run_id, RunFile.IMAGE_METRICS), written.metrics, "application/json")
    return _assess(
        run,
        run_id,
        candidate,
        written.onnx,
        parity,
        registry=registry,
        artifacts=artifacts,
        image=spec.training.image,
        params=dict(spec.estimator.params),
        extra_artifacts={"image_metrics": reported},
    )


def _champion_inputs(
    holdout: pa.Table, spec: ModelSpec, champion: ModelVersion
) -> tuple[dict[str, np.ndarray] | None, str]:
    """The holdout as the champion's inputs (its own signature: a spec may have added features since), or None
    with why, when the champion reads a feature this spec no longer has, or has as another type."""
    ours = {field.name: field.type for field in signature_of(spec.features)}
    unknown = [field.name for field in champion.signature if ours.get(field.name) != field.type]
    if unknown:
        return None, f"it reads {unknown}, which this spec does not have as it had them"
    values = {field.name: holdout.column(field.name).to_pylist() for field in champion.signature}
    return tensors_from_columns(values, champion.signature), ""


# With fewer holdout rows than this left once the champion's own are set aside (or a class missing from them), both
# are compared on the whole holdout, the gate saying this favours the champion: a candidate is never let through
# uncompared for want of rows.
MIN_COMPARED_ROWS = 30


def _read_as(table: pa.Table, signature: list[SignatureField], target: str) -> np.ndarray:
    """The hashes of a table's rows as a model reads them (its features and the target)."""
    return row_hashes(table, [*(field.name for field in signature), target])


def _among(hashes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which of the row hashes `rows` are among the sorted `hashes` (a mask)."""
    if not len(hashes):
        return np.zeros(len(rows), dtype=bool)
    return hashes[np.minimum(np.searchsorted(hashes, rows), len(hashes) - 1)] == rows


@dataclass
class _Versus:
    """The candidate against the champion, on the holdout rows the champion did not train on."""

    champion_metrics: dict[str, float] | None = None
    not_compared: str = ""
    rows: int | None = None  # set when some rows were left out
    candidate_metrics: dict[str, float] | None = None  # on those rows, when some were left out
    comparison: Comparison | None = None
    favoured: int = 0  # rows the champion alone trained on, kept for want of others: the comparison favours it


def _champion_alone(
    champion: ModelVersion,
    holdout: pa.Table,
    target: str,
    candidate: tuple[np.ndarray, list[SignatureField]],
    artifacts: ObjectStore,
) -> np.ndarray | None:
    """Which holdout rows the champion trained on and the candidate did not (a mask). A row both trained on (a
    repeated row of discrete data; `candidate`: its training rows' sorted hashes and its signature) favours neither.
    None for a champion whose training rows were not kept (registered before they were)."""
    if champion.training_row_hashes is None:
        return None
    trained = np.frombuffer(artifacts.get_verified(champion.training_row_hashes), dtype="<u8")
    own, signature = candidate
    theirs = _read_as(holdout, champion.signature, target)
    same_columns = {field.name for field in signature} == {field.name for field in champion.signature}
    ours = theirs if same_columns else _read_as(holdout, signature, target)  # hashed once when both read alike
    return _among(trained, theirs) & ~_among(own, ours)


def comparison_rows(spec: ModelSpec, truth: np.ndarray, alone: np.ndarray | None) -> tuple[np.ndarray | None, int]:
    """The holdout rows to compare on (a mask; None: all of them), and how many of the champion's own rows stay in
    for want of others (fewer than MIN_COMPARED_ROWS left, or a class missing from them)."""
    if alone is None or not alone.any():
        return None, 0
    kept = ~alone
    every_class = spec.task is not Task.CLASSIFICATION or set(truth[kept].tolist()) == set(truth.tolist())
    if kept.sum() < MIN_COMPARED_ROWS or not every_class:
        return None, int(alone.sum())
    return kept, 0


def _versus_champion(
    spec: ModelSpec,
    holdout: pa.Table,
    truth: np.ndarray,
    candidate: tuple[dict[str, np.ndarray], list[str] | None],
    *,
    champion: ModelVersion | None,
    learned: tuple[np.ndarray, list[SignatureField]],
    artifacts: ObjectStore,
) -> _Versus:
    """Score the champion on the holdout rows it did not train on, and the candidate on the same rows."""
    if champion is None:
        return _Versus()
    if spec.task is Task.CLASSIFICATION and set(champion.classes or []) != set(candidate[1] or []):
        # a metric over other classes is another metric (a binary roc_auc against a macro mean): no comparison
        return _Versus(not_compared=f"its classes {champion.classes} are not the candidate's {candidate[1]}")
    columns, not_compared = _champion_inputs(holdout, spec, champion)
    if columns is None:
        return _Versus(not_compared=not_compared)
    alone = _champion_alone(champion, holdout, spec.target, learned, artifacts)
    kept, favoured = comparison_rows(spec, truth, alone)
    theirs = (load_served_model(champion, artifacts).predict(columns), champion.classes)
    ours = candidate
    if kept is not None:
        truth = truth[kept]
        ours, theirs = (outputs_at(ours[0], kept), ours[1]), (outputs_at(theirs[0], kept), theirs[1])
    comparison = None
    if spec.metrics.confidence is not None or spec.data.cv_folds is not None:
        comparison = paired_bootstrap(
            spec, truth, ours, theirs, confidence=spec.metrics.confidence or DEFAULT_CONFIDENCE
        )
    return _Versus(
        champion_metrics=score(spec, truth, *theirs),
        rows=len(truth) if kept is not None else None,
        candidate_metrics=score(spec, truth, *ours) if kept is not None else None,
        comparison=comparison,
        favoured=favoured,
    )


def _class_rows(spec: ModelSpec, labels: list[Any]) -> dict[str, int] | None:
    """A classifier's rows per class, as the labels are written (None for a regressor)."""
    if spec.task is not Task.CLASSIFICATION:
        return None
    found, counts = np.unique(np.asarray([str(label) for label in labels]), return_counts=True)
    return {str(label): int(count) for label, count in zip(found, counts, strict=True)}


def _assess(
    run: RunData,
    run_id: str,
    candidate: OnnxModel,
    onnx_bytes: bytes,
    parity: float,
    *,
    registry: Registry,
    artifacts: ObjectStore,
    image: str,
    params: dict[str, Any],
    cross_validation: dict[str, CrossValidation] | None = None,
    extra_artifacts: dict[str, Artifact] | None = None,
) -> TrainingResult:
    """Threshold, metrics, importance and profile of a candidate that passed parity; its champion's scores."""
    spec, inputs, train, holdout = run.spec, run.inputs, run.train, run.holdout
    model_name, classes = spec.name, candidate.classes
    check_declared_classes(spec, classes)
    check_holdout_labels(spec, holdout, classes)  # the model's own or an image's: it is scored on these labels
    holdout_columns = table_columns(holdout, spec)
    truth = np.asarray(holdout.column(spec.target).to_pylist())
    outputs = candidate.predict(holdout_columns)
    if spec.metrics.threshold is not None:
        candidate.threshold = decision_threshold(spec, classes, truth, outputs["probabilities"])
        outputs = candidate.predict(holdout_columns)
    metrics = score(spec, truth, outputs, classes)
    segments = segment_metrics(
        spec, {column: holdout.column(column).to_pylist() for column in spec.metrics.segments}, truth, outputs, classes
    )
    importance = permutation_importance(spec, candidate.predict, holdout_columns, truth, classes)
    train_columns = table_columns(train, spec)
    profile = build_profile(spec, train_columns, candidate.predict(train_columns)["label"])
    champion = registry.champion(model_name)
    own = np.unique(_read_as(train, candidate.signature, spec.target))  # sorted, distinct
    versus = _versus_champion(
        spec, holdout, truth, (outputs, classes), champion=champion, learned=(own, candidate.signature),
        artifacts=artifacts,
    )  # fmt: skip
    result = TrainingResult(
        model_name=model_name,
        run_id=run_id,
        estimator=spec.estimator.kind,
        views=dict(spec.views),  # as bound now: serving reads them so, whatever the spec binds later
        artifacts={
            "model": artifacts.put(run_key(model_name, run_id, RunFile.MODEL), onnx_bytes),
            "profile": artifacts.put(
                run_key(model_name, run_id, RunFile.PROFILE), profile.model_dump_json().encode(), "application/json"
            ),
            **(extra_artifacts or {}),
        },
        training_row_hashes=artifacts.put(
            run_key(model_name, run_id, RunFile.TRAINING_ROWS), own.astype("<u8").tobytes()
        ),
        metrics=metrics,
        signature=candidate.signature,
        classes=classes,
        training_rows=train.num_rows,
        holdout_rows=holdout.num_rows,
        training_classes=_class_rows(spec, train.column(spec.target).to_pylist()),
        holdout_classes=_class_rows(spec, truth.tolist()),
        parity_max_abs_diff=parity,
        champion_version=champion.version if champion else None,
        champion_metrics=versus.champion_metrics,
        champion_not_compared=versus.not_compared,
        compared_rows=versus.rows,
        compared_metrics=versus.candidate_metrics,
        champion_favoured_rows=versus.favoured,
        image=image,
        data_fingerprint=inputs.fingerprint,
        params=params,
        threshold=candidate.threshold,
        importance=importance,
        code=inputs.code,
        segments=segments,
        cross_validation=cross_validation,
        comparison=versus.comparison,
    )
    artifacts.put(
        run_key(model_name, run_id, RunFile.CANDIDATE), result.model_dump_json(indent=2).encode(), "application/json"
    )
    return result
