"""Training pipeline step: check the dataset against the model's contract and split it."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import ValidateRequest, ValidateSettings
from mlcore.data import DatasetTables, validate_step
from mlcore.images import ImageJobs
from mlruntime import client, logger, output, registry, store, tracer, transient_errors


@functools.cache
def settings() -> ValidateSettings:
    return ValidateSettings()


@logger.inject_lambda_context(correlation_id_path="run_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=ValidateRequest)
def handler(event: ValidateRequest, context: LambdaContext) -> dict:
    config = settings()
    result = validate_step(
        event,
        registry=registry(config.registry_table),
        data=store(config.data_bucket),
        artifacts=store(config.artifacts_bucket),
        capture=store(config.capture_bucket),
        images=ImageJobs(client("batch"), config),
        tables=DatasetTables(client("glue"), config.datasets_database),
        gpu_jobs=config.gpu_jobs,
        distributed_min_bytes=config.distributed_min_mb * 1024 * 1024,
        part_bytes=config.part_mb * 1024 * 1024,
    )
    return output(result)
