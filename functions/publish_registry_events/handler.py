"""The registry's changes (versions registered, approved, rejected, archived; aliases moved) as EventBridge events."""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.catalog import PublishedEvents, PublishRegistryEventsSettings, RegistryStreamBatch
from mlcore.registry import publish_events, registry_events
from mlruntime import client, logger, output, tracer, transient_errors


@functools.cache
def settings() -> PublishRegistryEventsSettings:
    return PublishRegistryEventsSettings()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@transient_errors
@event_parser(model=RegistryStreamBatch)
def handler(event: RegistryStreamBatch, context: LambdaContext) -> dict:
    published = publish_events(registry_events(event.Records), client("events"), settings().event_bus)
    return output(PublishedEvents(published=published))
