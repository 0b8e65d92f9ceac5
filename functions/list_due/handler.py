"""Monitor step: the models whose check is due (the Map state fans out over them)."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import ListDueRequest, ListDueSettings
from mlcore.monitoring import list_due_models
from mlruntime import logger, output, registry, tracer, transient_errors


@functools.cache
def settings() -> ListDueSettings:
    return ListDueSettings()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=ListDueRequest)
def handler(event: ListDueRequest, context: LambdaContext) -> dict:
    return output(list_due_models(event, registry=registry(settings().registry_table)))
