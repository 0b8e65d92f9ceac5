"""Monitor step: compare a model's captured traffic with its training profile."""

from __future__ import annotations

import functools
import os

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import DriftCheckSettings, DueModel
from mlcore.monitoring import run_drift_check
from mlruntime import emit_metrics, logger, metrics, registry, store, tracer

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "mlops")


@functools.cache
def settings() -> DriftCheckSettings:
    return DriftCheckSettings()


@logger.inject_lambda_context(correlation_id_path="model_name")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=DueModel)
def handler(event: DueModel, context: LambdaContext) -> dict:
    config = settings()
    result = run_drift_check(
        event,
        registry=registry(config.registry_table),
        artifacts=store(config.artifacts_bucket),
        capture=store(config.capture_bucket),
    )
    metrics.add_dimension(name="model", value=result.model_name)
    metrics.add_metric(name="DriftShare", unit=MetricUnit.Percent, value=result.drift_share * 100)
    metrics.add_metric(name="DatasetDrift", unit=MetricUnit.Count, value=int(result.dataset_drift))
    metrics.add_metric(name="PerformanceDegraded", unit=MetricUnit.Count, value=int(result.performance_degraded))
    # Without dimensions too: the fleet-wide alarms watch these.
    fleet = {"DatasetDrift": (int(result.dataset_drift), "Count")}
    emit_metrics(NAMESPACE, {}, {**fleet, "PerformanceDegraded": (int(result.performance_degraded), "Count")})
    for feature, score in result.feature_scores.items():  # one EMF line per feature: model x feature
        emit_metrics(NAMESPACE, {"model": result.model_name, "feature": feature}, {"DriftScore": (score, "None")})
    return result.model_dump(mode="json")
