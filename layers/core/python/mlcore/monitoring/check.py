"""The drift check step of the monitor: captured traffic against the champion's training profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcore.catalog import CheckFile, DriftCheckResult, DueModel, Trigger, check_key
from mlcore.catalog import metrics as names
from mlcore.data import Profile, capture_window, check_contract, labelled_window
from mlcore.monitoring.drift import (
    DISTANCES,
    DriftReport,
    PerformanceCheck,
    check_drift,
    reference_features,
    window_column,
)
from mlcore.monitoring.report import render_drift_html
from mlcore.monitoring.schedule import MONITOR
from mlcore.monitoring.views import view_features_drift
from mlcore.registry import ModelVersion, Registry
from mlcore.spec import LOWER_IS_BETTER, Feature, ModelSpec
from mlcore.storage import ObjectStore
from mlcore.training import label_metrics, regression_metrics, score_metrics


def check_performance(spec: ModelSpec, champion: ModelVersion, labelled: Any) -> PerformanceCheck | None:
    """Compare live metrics on labelled traffic with the holdout's; None below `drift.min_rows` labels.

    Classifiers are compared on their primary metric when the capture gives it (accuracy, precision,
    recall and f1 from labels; of binary classifiers, the score metrics from the captured scores),
    else on accuracy; regressors on their primary metric.
    """
    if labelled is None or labelled.num_rows < spec.drift.min_rows:
        return None
    truth = np.asarray(labelled.column("label").to_pylist())
    predicted = np.asarray(labelled.column("prediction").to_pylist())
    if spec.task == "classification":
        classes = champion.classes or sorted(set(truth.tolist()))
        live = label_metrics(truth, predicted, classes)
        scores = labelled.column("score")
        if len(classes) == 2 and scores.null_count == 0:  # the positive class's probability was captured
            positive = scores.to_numpy(zero_copy_only=False).astype(np.float64)
            proba = np.column_stack([1 - positive, positive])
            live.update(score_metrics(truth, proba, classes, spec.parametric_metrics))
        # the champion may predate a spec naming a new primary metric: compare what both have
        known = live.keys() & champion.metrics.keys()
        metric = spec.metrics.primary if spec.metrics.primary in known else "accuracy"
    else:
        live = regression_metrics(truth.astype(float), predicted.astype(float))
        metric = spec.metrics.primary
    holdout = champion.metrics[metric]
    degradation = live[metric] - holdout if metric in LOWER_IS_BETTER else holdout - live[metric]
    return PerformanceCheck(
        metric=metric,
        live=live[metric],
        holdout=holdout,
        labelled_rows=labelled.num_rows,
        degradation=degradation,
        threshold=spec.drift.max_degradation,
        degraded=degradation > spec.drift.max_degradation,
    )


def run_drift_check(
    request: DueModel, *, registry: Registry, artifacts: ObjectStore, capture: ObjectStore, now: datetime | None = None
) -> DriftCheckResult:
    """Compare the window of captured traffic with the champion's training profile.

    Writes a JSON result and an HTML report to `monitoring/<model>/<check id>/` in the artifacts
    bucket, records the check on the model, and recommends retraining on dataset drift.
    """
    now = now or datetime.now(UTC)
    spec = registry.get_spec(request.model_name)
    champion = registry.champion(spec.name)
    check_id = f"{now:%Y%m%dT%H%M%S}"

    def finish(result: DriftCheckResult) -> DriftCheckResult:
        change = {"last_check_at": now.isoformat(), "last_check": result}
        registry.update_monitor_state(spec.name, lambda state: state.model_copy(update=change))
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
                summary=f"'{spec.name}' has no champion (none was promoted yet, or it was archived or rejected)",
            )
        )
    start = now - timedelta(hours=request.window_hours)
    window = capture_window(capture, spec.name, start, now)
    rows = window.num_rows if window is not None else 0
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
    profile = Profile.model_validate_json(artifacts.get_verified(champion.artifacts["profile"]))
    features = reference_features(spec, profile)  # the champion's inputs: the spec may have changed since
    others = _not_read_by(window, registry, spec.name, features)
    answered_by = window.column("model_version")
    tables = {versions: window.filter(pc.invert(pc.is_in(answered_by, value_set=pa.array(versions, answered_by.type))))
              for versions in set(others.values())}  # fmt: skip
    read = {f.name: tables[others[f.name]] if f.name in others else window for f in features}
    columns = {f.name: window_column(read[f.name], f.name, f.is_numeric) for f in features}
    # judged on as few rows as the champion's answers are (`drift.min_rows`), not on a handful
    unread = [name for name, rows_read in read.items() if rows_read.num_rows < spec.drift.min_rows]
    # The traffic's inputs are the traffic's, whoever answered; its answers (and their labels) judge the champion
    # only where the champion gave them: not an earlier champion's, nor a canary challenger's.
    answered = window.filter(pc.equal(window.column("model_version"), champion.version))
    predictions = None
    if answered.num_rows >= spec.drift.min_rows:
        predictions = window_column(answered, "prediction", numeric=spec.task != "classification")
    from_views = view_features_drift(spec, registry, now)  # checked once per view, not here again
    report = check_drift(
        spec, champion.version, profile, columns, predictions, from_views=from_views, unread=unread, rows=rows
    )
    report.rank_by_importance(champion.importance)  # drifted features that matter most come first
    report.quality = []
    for versions in {others.get(f.name, ()) for f in features}:  # each input's rules on the rows of its readers
        group = [f for f in features if others.get(f.name, ()) == versions]
        _, contract = check_contract(read[group[0].name], spec.model_copy(update={"features": group}),
                                     require_target=False, table_checks=False)  # fmt: skip
        report.quality += contract.failures
    report.performance = check_performance(spec, champion, labelled_window(capture, spec.name, answered, start, now))
    degraded = report.performance is not None and report.performance.degraded
    # What asks for a retraining: the first finding the spec retrains on (else the first finding).
    findings: tuple[tuple[Trigger, bool], ...] = (("degradation", degraded), ("drift", report.dataset_drift))
    found = [trigger for trigger, seen in findings if seen]
    trigger = next((t for t in found if spec.retrain.allows(t)), found[0] if found else None)
    artifacts.put(
        check_key(spec.name, check_id, CheckFile.JSON), report.model_dump_json(indent=2).encode(), "application/json"
    )
    html = artifacts.put(
        check_key(spec.name, check_id, CheckFile.HTML), render_drift_html(report).encode(), "text/html"
    )
    summary = _summary(report)
    if predictions is None:  # a canary answered most of the window: say that nothing judged the champion
        summary += (
            f"; v{champion.version} answered {answered.num_rows} of the rows, fewer than drift.min_rows "
            f"({spec.drift.min_rows}): its answers are not judged"
        )
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
            status="drift" if report.dataset_drift else "degraded" if degraded else "ok",
            rows=rows,
            drifted_features=report.drifted_features,
            drift_share=report.drift_share,
            dataset_drift=report.dataset_drift,
            performance_degraded=degraded,
            distances={f.feature: f.score for f in report.features if f.method in DISTANCES},
            p_values={f.feature: f.score for f in report.features if f.method not in DISTANCES},
            retrain_recommended=trigger is not None and spec.retrain.allows(trigger),
            retrain_trigger=trigger,
            summary=summary,
            report=html,
        )
    )


def _not_read_by(window: Any, registry: Registry, name: str, features: list[Feature]) -> dict[str, tuple[Any, ...]]:
    """Per input of the champion, the versions that answered rows of the window without reading it as the champion
    does (an earlier champion's, from before the spec added it), when some did: such a row holds a null there, which
    no client sent (capture writes it), so the feature's drift and contract are not judged on it."""
    versions = {version.version: version for version in registry.list_versions(name)}
    kinds: dict[Any, dict[str, bool]] = {}
    for number in pc.unique(window.column("model_version")).to_pylist():
        version = versions.get(int(number)) if number is not None else None
        if version is not None and version.signature:  # else (not registered here): read as the champion reads
            kinds[number] = {field.name: field.type == "float" for field in version.signature}
    others = {}
    for feature in features:
        missing = tuple(
            sorted(number for number, read in kinds.items() if read.get(feature.name) != feature.is_numeric)
        )
        if missing:
            others[feature.name] = missing
    return others


def _summary(report: DriftReport) -> str:
    verdict = "dataset drift" if report.dataset_drift else "no dataset drift"
    drifted = ", ".join(report.drifted_features) or "none"
    summary = (
        f"{report.model_name} v{report.version}: {verdict} ({report.drift_share:.0%} of features drifted: {drifted}) "
        f"over {report.rows} rows"
    )
    if report.unread:  # right after a promotion of a version with a new input: the traffic so far had none of it
        summary += (
            f"; not checked: {', '.join(report.unread)} (versions that read it answered fewer than drift.min_rows "
            "of the window's rows)"
        )
    if report.prediction is not None and report.prediction.drifted:  # the model's answers moved, whatever the inputs
        summary += f"; the predictions drifted ({report.prediction.method} {report.prediction.score:.3g})"
    performance = report.performance
    if performance is not None:
        state = "degraded" if performance.degraded else "holds"
        summary += (
            f"; {performance.metric} {state}: {performance.live:.3f} on {performance.labelled_rows} labelled rows "
            f"vs {performance.holdout:.3f} on the holdout"
        )
    return summary


def feature_metrics(result: DriftCheckResult) -> list[tuple[str, str, float]]:
    """`(feature, metric, value)` per feature: the distance, or the test's confidence 1 - p (higher: more drift)."""
    return [(feature, names.DRIFT_DISTANCE, value) for feature, value in result.distances.items()] + [
        (feature, names.DRIFT_TEST_CONFIDENCE, 1.0 - value) for feature, value in result.p_values.items()
    ]
