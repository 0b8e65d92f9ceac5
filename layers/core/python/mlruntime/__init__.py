"""Lambda glue shared by the handlers: Powertools objects, cached boto3 clients and adapters.

Kept apart from `mlcore`, which stays pure: it never creates clients or imports Powertools.
`logger`, `tracer` and `metrics` are created on first use, so the predict function, which needs
none of them, does not pay their imports (X-Ray's SDK alone is ~0.25 s) on a cold start.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

from mlcore.errors import TransientError
from mlcore.registry import Registry, cancellation_reasons
from mlcore.storage import ObjectStore

if TYPE_CHECKING:
    from pydantic import BaseModel

_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    """`logger`, `tracer` and `metrics` (Powertools), created when a handler first imports them."""
    if name == "logger":
        from aws_lambda_powertools.logging import Logger

        value: Any = Logger()
    elif name == "tracer":
        from aws_lambda_powertools.tracing import Tracer

        value = Tracer()
    elif name == "metrics":
        from aws_lambda_powertools.metrics import Metrics

        value = Metrics()
    else:
        raise AttributeError(name)
    globals()[name] = value
    return value


@functools.cache
def client(service: str) -> Any:
    """One boto3 client per service per container (boto3's standard configuration and endpoint)."""
    import boto3  # here, not at the top: the predict function never loads it (see lightaws)

    with _lock:  # creating clients from the default session is not thread-safe
        make: Any = boto3.client  # by service name, which the typed overloads do not take
        return make(service)


def registry(table: str) -> Registry:
    return Registry(table, client("dynamodb"))


def store(bucket: str) -> ObjectStore:
    return ObjectStore(bucket, client("s3"))


def publish_alert(topic_arn: str, subject: str, message: str, model: str) -> None:
    """An alert on the alerts topic (SNS takes a subject of up to 100 characters), with the model it is about as the
    `model` message attribute, which a subscription's filter policy routes by (a team's pager gets its models')."""
    attributes = {"model": {"DataType": "String", "StringValue": model}}
    client("sns").publish(TopicArn=topic_arn, Subject=subject[:100], Message=message, MessageAttributes=attributes)


_shutdown_hooks: list[Callable[[], object]] = []


def on_shutdown(hook: Callable[[], object]) -> None:
    """Run `hook` when Lambda shuts the container down.

    Lambda sends the runtime SIGTERM at shutdown when an extension is registered; the core layer
    ships one (extensions/mlops-shutdown) for that. The local target calls `shutdown()` itself.
    """
    _shutdown_hooks.append(hook)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is not _on_sigterm:
        signal.signal(signal.SIGTERM, _on_sigterm)


def shutdown_hooks() -> list[Callable[[], object]]:
    """The hooks registered so far (the local target tells which function registered which)."""
    return list(_shutdown_hooks)


def shutdown(only: list[Callable[[], object]] | None = None) -> None:
    """Run every shutdown hook (or `only` these) once; a failing hook does not stop the others."""
    hooks = [hook for hook in _shutdown_hooks if only is None or hook in only]
    _shutdown_hooks[:] = [hook for hook in _shutdown_hooks if hook not in hooks]
    for hook in hooks:
        try:
            hook()
        except Exception:
            logging.getLogger(__name__).exception("shutdown hook failed")


def _on_sigterm(signum: int, frame: object) -> None:
    shutdown()
    sys.exit(0)


def publish_metrics(values: dict[str, tuple[float, Any]], **dimensions: str) -> None:
    """One EMF document of its own dimension set through Powertools' CloudWatch provider.

    The handler's `metrics` holds one dimension set per invocation; this is for the others (a
    metric without the model dimension for fleet-wide alarms, one per feature). Namespace and
    service come from the environment, and POWERTOOLS_METRICS_DISABLED silences it like `metrics`.
    """
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    provider = AmazonCloudWatchEMFProvider()
    if dimensions:
        provider.add_dimensions(**dimensions)
    for name, (value, unit) in values.items():
        provider.add_metric(name=name, unit=unit, value=value)
    provider.flush_metrics()


def output(message: BaseModel) -> dict[str, Any]:
    """A step's result as Step Functions takes it, JSON's values only: a metric undefined on its rows is the string
    "NaN", which the next step's message reads back as NaN (a float NaN would reach Lambda's encoder, which writes a
    token JSON does not have)."""
    return dict(json.loads(message.model_dump_json()))


# botocore error codes of a dependency that may well answer next time (its own retries exhausted).
TRANSIENT_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "Throttling",
    "TooManyRequestsException", "SlowDown", "RequestTimeout", "InternalError", "InternalServerError",
    "ServiceUnavailable", "TransactionConflictException",
})  # fmt: skip
# A transaction cancelled for these reasons alone (DynamoDB's CancellationReasons) may well go through next time.
TRANSIENT_CANCELLATIONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
Handler = TypeVar("Handler", bound=Callable[..., Any])


def transient_errors(handler: Handler) -> Handler:
    """Report an AWS failure worth retrying as `TransientError`, which the state machines retry with backoff.

    botocore's own retries are spent within a second; Step Functions' Retry waits seconds to minutes.
    Anything else propagates as it is (and the state machine's Catch alerts).
    """
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            cancelled = cancellation_reasons(error.response)  # a transaction's, if any
            if code in TRANSIENT_CODES or status >= 500 or (cancelled and cancelled <= TRANSIENT_CANCELLATIONS):
                raise TransientError(f"{code or status}: {error}") from error
            raise
        except (ConnectionError, HTTPClientError) as error:
            raise TransientError(str(error)) from error

    return wrapped  # type: ignore[return-value]


def emit_metrics(
    namespace: str,
    dimensions: dict[str, str],
    values: dict[str, tuple[float, str]],
    rollups: tuple[tuple[str, ...], ...] = (),
    rollup_only: Collection[str] = (),
) -> None:
    """Write one CloudWatch embedded-metric-format line (`values`: name -> (value, unit)), by `dimensions` and by
    each of the `rollups` (subsets of them: a model's metric across its versions, for its alarms); the metrics
    named in `rollup_only` by the rollups alone (every dimension set is a custom metric more).

    Only the predict function's hot path uses this: Powertools' Metrics reads the environment and
    builds its metric set on every call, and its import adds to every cold start.
    """
    import orjson  # the predict function's layer (a tenth of the standard library's time: this is on every answer)

    if rollup_only and not rollups:
        raise ValueError("rollup_only names metrics written by the rollups alone: give the rollups")
    if not values or os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        return
    rolled = [list(rollup) for rollup in rollups]
    directives = []
    for dimension_sets, by_rollups_only in (([list(dimensions), *rolled], False), (rolled, True)):
        definitions = [{"Name": n, "Unit": u} for n, (_, u) in values.items() if (n in rollup_only) == by_rollups_only]
        if dimension_sets and definitions:
            directives.append({"Namespace": namespace, "Dimensions": dimension_sets, "Metrics": definitions})
    document: dict[str, Any] = {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives},
        **dimensions,
        **{name: value for name, (value, _) in values.items()},
    }
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY).decode())
