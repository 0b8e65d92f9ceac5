"""The platform's tick for batch scoring: start the batch of every model whose batch.schedule fired."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.batch import start_scheduled_batches
from mlcore.catalog import BatchTick, StartScheduledBatchesSettings
from mlruntime import client, logger, output, registry, tracer, transient_errors


@functools.cache
def settings() -> StartScheduledBatchesSettings:
    return StartScheduledBatchesSettings()


@logger.inject_lambda_context(correlation_id_path="event_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=BatchTick)
def handler(event: BatchTick, context: LambdaContext) -> dict:
    config = settings()
    result = start_scheduled_batches(
        registry(config.registry_table), client("stepfunctions"), config.batch_state_machine_arn
    )
    logger.info("scheduled batches", extra={"batches": [b.model_dump() for b in result.batches if b.started]})
    return output(result)
