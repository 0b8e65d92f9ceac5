"""The audit table's stream, as JSON lines in the Object Lock bucket (what an auditor reads; nobody rewrites it)."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import AuditExported, ExportAuditSettings, RegistryStreamBatch
from mlcore.registry import export_audit
from mlruntime import logger, output, store, tracer, transient_errors


@functools.cache
def settings() -> ExportAuditSettings:
    return ExportAuditSettings()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=RegistryStreamBatch)
def handler(event: RegistryStreamBatch, context: LambdaContext) -> dict:
    exported = export_audit(event.Records, store(settings().audit_bucket))
    return output(AuditExported(records=exported))
