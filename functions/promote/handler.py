"""Training pipeline step: point the `champion` alias at the new version."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import PromoteRequest, PromoteSettings
from mlcore.registry import promote_version
from mlruntime import logger, output, registry, tracer, transient_errors


@functools.cache
def settings() -> PromoteSettings:
    return PromoteSettings()


@logger.inject_lambda_context(correlation_id_path="model_name")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=PromoteRequest)
def handler(event: PromoteRequest, context: LambdaContext) -> dict:
    return output(promote_version(event, registry=registry(settings().registry_table)))
