"""Monitor step: start the training pipeline for a drifted model (idempotent, cool-down, daily cap)."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import RetrainRequest, RetrainSettings
from mlcore.monitoring import start_retraining
from mlruntime import client, logger, registry, tracer, transient_errors


@functools.cache
def settings() -> RetrainSettings:
    return RetrainSettings()


@logger.inject_lambda_context(correlation_id_path="model_name")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=RetrainRequest)
def handler(event: RetrainRequest, context: LambdaContext) -> dict:
    config = settings()
    result = start_retraining(
        event,
        registry=registry(config.registry_table),
        sfn=client("stepfunctions"),
        state_machine_arn=config.training_state_machine_arn,
    )
    return result.model_dump(mode="json")
