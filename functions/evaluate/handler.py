"""Training pipeline step: the champion/challenger gate on the run's holdout."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import EvaluateRequest, EvaluateSettings
from mlcore.training import evaluate_candidate
from mlruntime import logger, output, registry, store, tracer, transient_errors


@functools.cache
def settings() -> EvaluateSettings:
    return EvaluateSettings()


@logger.inject_lambda_context(correlation_id_path="run_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=EvaluateRequest)
def handler(event: EvaluateRequest, context: LambdaContext) -> dict:
    config = settings()
    result = evaluate_candidate(
        event, registry=registry(config.registry_table), artifacts=store(config.artifacts_bucket)
    )
    return output(result)
