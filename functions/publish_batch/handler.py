"""Batch scoring's last step: merge the chunks' results into the manifest, register the predictions in Glue."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.batch import publish_batch
from mlcore.catalog import BatchPlan, PublishBatchSettings
from mlruntime import client, logger, output, store, tracer, transient_errors


@functools.cache
def settings() -> PublishBatchSettings:
    return PublishBatchSettings()


@logger.inject_lambda_context(correlation_id_path="batch_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=BatchPlan)
def handler(event: BatchPlan, context: LambdaContext) -> dict:
    config = settings()
    manifest = publish_batch(event, data=store(config.data_bucket), glue=client("glue"), database=config.runs_database)
    return output(manifest)
