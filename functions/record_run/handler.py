"""Training pipeline's last step: record the run (and its search's trials), whatever became of it."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import RecordRunRequest, RecordRunSettings
from mlcore.runs import record_run
from mlruntime import client, logger, output, registry, store, tracer, transient_errors


@functools.cache
def settings() -> RecordRunSettings:
    return RecordRunSettings()


@logger.inject_lambda_context(correlation_id_path="run_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=RecordRunRequest)
def handler(event: RecordRunRequest, context: LambdaContext) -> dict:
    config = settings()
    result = record_run(
        event,
        registry=registry(config.registry_table),
        artifacts=store(config.artifacts_bucket),
        sfn=client("stepfunctions"),
        glue=client("glue"),
        database=config.runs_database,
        code_version=config.code_version,
    )
    return output(result)
