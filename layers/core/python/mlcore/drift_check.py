"""The drift check step of the monitor: captured traffic against the champion's training profile."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlcore.capture import read_window
from mlcore.drift import DriftReport, check_drift
from mlcore.messages import DriftCheckResult, DueModel
from mlcore.monitoring import MONITOR
from mlcore.registry import Registry
from mlcore.report import render_drift_html
from mlcore.storage import ObjectStore


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
    champion = registry.champion(spec.name)
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
