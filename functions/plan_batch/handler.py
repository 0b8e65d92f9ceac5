"""Batch scoring's first step: pick the version, chunk the input files, write the plan."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.batch import plan_batch
from mlcore.catalog import PlanBatchRequest, PlanBatchSettings
from mlruntime import logger, output, registry, store, tracer, transient_errors


@functools.cache
def settings() -> PlanBatchSettings:
    return PlanBatchSettings()


@logger.inject_lambda_context(correlation_id_path="batch_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=PlanBatchRequest)
def handler(event: PlanBatchRequest, context: LambdaContext) -> dict:
    config = settings()
    plan = plan_batch(event, registry=registry(config.registry_table), data=store(config.data_bucket))
    return output(plan)
