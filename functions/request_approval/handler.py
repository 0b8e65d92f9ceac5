"""Training pipeline step: a pending version's pipeline waits for a person's decision (or rejects at its timeout)."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import ApprovalRequest, RequestApprovalSettings
from mlcore.registry import request_decision
from mlruntime import logger, output, publish_alert, registry, tracer, transient_errors


@functools.cache
def settings() -> RequestApprovalSettings:
    return RequestApprovalSettings()


def alert(subject: str, message: str, model: str) -> None:
    publish_alert(settings().alerts_topic_arn, subject, message, model)


@logger.inject_lambda_context(correlation_id_path="model_name")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=ApprovalRequest)
def handler(event: ApprovalRequest, context: LambdaContext) -> dict:
    decided = request_decision(event, registry=registry(settings().registry_table), alert=alert)
    return output(decided)
