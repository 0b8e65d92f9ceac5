"""Retraining requests from every trigger (schedule, new data, drift, degradation): decided in one place."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import RequestRetrainingSettings, RetrainingRequest
from mlcore.data import DatasetTables
from mlcore.monitoring import request_retraining
from mlruntime import client, logger, output, registry, store, tracer, transient_errors


@functools.cache
def settings() -> RequestRetrainingSettings:
    return RequestRetrainingSettings()


@logger.inject_lambda_context(correlation_id_path="event_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=RetrainingRequest)
def handler(event: RetrainingRequest, context: LambdaContext) -> dict:
    config = settings()
    result = request_retraining(
        event,
        registry=registry(config.registry_table),
        data=store(config.data_bucket),
        capture=store(config.capture_bucket),
        sfn=client("stepfunctions"),
        state_machine_arn=config.training_state_machine_arn,
        tables=DatasetTables(client("glue"), config.datasets_database),
    )
    logger.info("retraining decided", extra={"decisions": [d.model_dump() for d in result.decisions]})
    return output(result)
