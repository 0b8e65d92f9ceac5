"""State machine step: a failed step in words, for the alert and the execution's cause."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import FailedStep, ReportFailureSettings
from mlcore.runs import report_failure
from mlruntime import logger, output, store, tracer, transient_errors


@functools.cache
def settings() -> ReportFailureSettings:
    return ReportFailureSettings()


@logger.inject_lambda_context(correlation_id_path="run_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=FailedStep)
def handler(event: FailedStep, context: LambdaContext) -> dict:
    return output(report_failure(event, artifacts=store(settings().artifacts_bucket)))
