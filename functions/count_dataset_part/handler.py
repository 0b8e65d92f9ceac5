"""Training pipeline step, a Distributed Map's child: copy, count and split one part of a large dataset."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import CountPartRequest, CountPartSettings
from mlcore.data import count_part
from mlruntime import logger, registry, store, tracer, transient_errors


@functools.cache
def settings() -> CountPartSettings:
    return CountPartSettings()


@logger.inject_lambda_context(correlation_id_path="run_id")
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=CountPartRequest)
def handler(event: CountPartRequest, context: LambdaContext) -> dict:
    config = settings()
    result = count_part(
        event,
        registry=registry(config.registry_table),
        data=store(config.data_bucket),
        artifacts=store(config.artifacts_bucket),
        batch_rows=config.batch_rows,
    )
    # The part's result is in its result.json: the Map's state keeps the little it needs (256 KB per result)
    return {"part": result.part, "rows": result.rows}
