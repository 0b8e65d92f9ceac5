"""Monitor step: compare a model's captured traffic with its training profile."""

from __future__ import annotations

import functools

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import DriftCheckSettings, DueModel
from mlcore.catalog import metrics as names
from mlcore.monitoring import feature_metrics, run_drift_check
from mlruntime import logger, metrics, output, publish_metrics, registry, store, tracer, transient_errors


@functools.cache
def settings() -> DriftCheckSettings:
    return DriftCheckSettings()


@logger.inject_lambda_context(correlation_id_path="model_name")
@tracer.capture_lambda_handler
@metrics.log_metrics
@transient_errors
@event_parser(model=DueModel)
def handler(event: DueModel, context: LambdaContext) -> dict:
    config = settings()
    result = run_drift_check(
        event,
        registry=registry(config.registry_table),
        artifacts=store(config.artifacts_bucket),
        capture=store(config.capture_bucket),
    )
    findings = {
        names.DATASET_DRIFT: (int(result.dataset_drift), MetricUnit.Count),
        names.PERFORMANCE_DEGRADED: (int(result.performance_degraded), MetricUnit.Count),
    }
    metrics.add_dimension(name="model", value=result.model_name)
    metrics.add_metric(name=names.DRIFT_SHARE, unit=MetricUnit.Percent, value=result.drift_share * 100)
    for name, (value, unit) in findings.items():
        metrics.add_metric(name=name, unit=unit, value=value)
    publish_metrics(findings)  # without the model dimension: the fleet-wide alarms watch these
    for feature, name, value in feature_metrics(result):
        publish_metrics({name: (value, MetricUnit.NoUnit)}, model=result.model_name, feature=feature)
    return output(result)
