"""The platform's tick for the feature store: every online view's new rows into the online store, and its freshness;
every view's drift, when its check is due."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import BatchTick, MaterializeFeaturesSettings
from mlcore.catalog import metrics as names
from mlcore.errors import FeatureMaterializationError
from mlcore.features import materialize_online_views
from mlcore.monitoring import check_views_drift
from mlruntime import client, logger, output, publish_metrics, registry, store, tracer, transient_errors


@functools.cache
def settings() -> MaterializeFeaturesSettings:
    return MaterializeFeaturesSettings()


@logger.inject_lambda_context(correlation_id_path="event_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=BatchTick)
def handler(event: BatchTick, context: LambdaContext) -> dict:
    config = settings()
    now = datetime.now(UTC)  # the tick's time: for materialization and drift alike
    views, data = registry(config.registry_table), store(config.data_bucket)
    run = materialize_online_views(
        registry=views, data=data, dynamodb=client("dynamodb"), table=config.online_features_table, now=now
    )
    for view in run.views:
        if view.age_hours is not None:
            publish_metrics({names.FEATURE_VIEW_AGE: (view.age_hours, MetricUnit.NoUnit)}, view=view.view)
    # without the view dimension: the alarm watches this one
    publish_metrics({names.STALE_FEATURE_VIEWS: (sum(v.stale for v in run.views), MetricUnit.Count)})
    drift = {}
    for name, check in check_views_drift(registry=views, data=data, now=now).items():
        if isinstance(check, str):  # skipped, or its error
            drift[name] = check
            continue
        drift[name] = check.summary
        if check.status != "not_enough_data":
            share = len(check.drifted_features) / len(check.features)
            publish_metrics({names.DRIFT_SHARE: (share, MetricUnit.NoUnit)}, view=name)
    run = run.model_copy(update={"drift": drift})
    failed = [f"{view.view}: {view.error}" for view in run.views if view.error]
    failed += [f"{name}: drift check {said}" for name, said in drift.items() if said.startswith("error: ")]
    if failed:
        raise FeatureMaterializationError(f"{len(failed)} views were not materialized or checked: {'; '.join(failed)}")
    return output(run)
