"""Training pipeline step: register a candidate that passed the gate."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import RegisterRequest, RegisterSettings
from mlcore.registry import register_candidate
from mlruntime import logger, output, registry, store, tracer, transient_errors


@functools.cache
def settings() -> RegisterSettings:
    return RegisterSettings()


@logger.inject_lambda_context(correlation_id_path="evaluation.run_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=RegisterRequest)
def handler(event: RegisterRequest, context: LambdaContext) -> dict:
    config = settings()
    result = register_candidate(
        event,
        registry=registry(config.registry_table),
        artifacts=store(config.artifacts_bucket),
        code_version=config.code_version,
    )
    return output(result)
