"""The prediction API: `POST /models/{name}/predict`, `POST /models/{name}/feedback`, `GET /models/{name}`.

Routing is a dictionary lookup on the proxy event's resource: the hot path carries no more than
it must (see bench/serving.py). Tracing comes from Lambda's active tracing of the invocation, logs
from Lambda's JSON log format, metrics from embedded-metric-format lines.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlcore.catalog import PredictSettings
from mlcore.errors import MlopsError, NotFoundError
from mlcore.registry import Registry
from mlcore.serving import CaptureBuffer, PredictionService, error_body, record_feedback
from mlcore.storage import ObjectStore
from mlruntime import emit_metrics, on_shutdown
from mlruntime.lightaws import S3, DynamoDB

# Lambda's JSON log format (set by the CDK app) adds the request id to every record; Powertools'
# Logger would add ~0.08 s to each cold start for the same.
logger = logging.getLogger("predict")
ROUTING_KEY_HEADER = "x-routing-key"

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "mlops")


@functools.cache
def settings() -> PredictSettings:
    return PredictSettings()


@functools.cache
def s3() -> S3:
    return S3()


def store(bucket: str) -> ObjectStore:
    return ObjectStore(bucket, s3())


@functools.cache
def service() -> PredictionService:
    # boto3 costs ~0.5 s of a cold start; these few calls go through the standard library instead.
    config = settings()
    capture = CaptureBuffer(
        store(config.capture_bucket),
        max_rows=config.capture_max_rows,
        max_age_seconds=config.capture_max_age_seconds,
    )
    on_shutdown(capture.flush)  # Lambda's SIGTERM at shutdown writes what is still buffered
    return PredictionService(
        Registry(config.registry_table, DynamoDB()),
        store(config.artifacts_bucket),
        capture,
        max_rows=config.max_rows,
        max_body_bytes=config.max_body_bytes,
        alias_ttl_seconds=config.alias_ttl_seconds,
    )


def _header(event: dict[str, Any], name: str) -> str | None:
    return next((v for k, v in (event.get("headers") or {}).items() if k.lower() == name), None)


@dataclass
class Call:
    """One request: what it asks for, and what the response and metrics report."""

    name: str
    event: dict[str, Any]
    request_id: str
    version: int | None = None
    metrics: dict[str, tuple[float, str]] = field(default_factory=dict)


def predict(call: Call) -> dict[str, Any]:
    routing_key = _header(call.event, ROUTING_KEY_HEADER)
    response, outcome = service().predict(call.name, call.event.get("body"), call.request_id, routing_key)
    call.version = outcome.version
    call.metrics["PredictedRows"] = (outcome.rows, "Count")
    if outcome.shadow_version is not None:
        call.metrics["ShadowDisagreements"] = (outcome.shadow_disagreements, "Count")
    return response


def feedback(call: Call) -> dict[str, Any]:
    serving = service().serving(call.name)
    classes = serving.champion.model.classes
    stored = record_feedback(serving.spec, call.event.get("body"), store(settings().capture_bucket), classes)
    call.metrics["FeedbackLabels"] = (stored["accepted"], "Count")
    return stored


def describe(call: Call) -> dict[str, Any]:
    described = service().describe(call.name)
    call.version = described["version"]
    return described


Route = Callable[[Call], dict[str, Any]]
ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/models/{name}/predict"): predict,
    ("POST", "/models/{name}/feedback"): feedback,
    ("GET", "/models/{name}"): describe,
}


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    request_id = (event.get("requestContext") or {}).get("requestId") or context.aws_request_id
    call = Call((event.get("pathParameters") or {}).get("name", ""), event, request_id)
    try:
        route = ROUTES.get((event.get("httpMethod", ""), event.get("resource", "")))
        if route is None:
            raise NotFoundError(f"no route {event.get('httpMethod')} {event.get('path')}")
        status, body = 200, route(call)
    except MlopsError as error:
        if error.status >= 500:
            logger.exception("request failed", extra={"model": call.name, "code": error.code})
        status, body = error.status, error_body(error)
        call.metrics[f"Errors_{error.code}"] = (1, "Count")
    call.metrics["Latency"] = ((time.perf_counter() - started) * 1000, "Milliseconds")
    emit_metrics(NAMESPACE, {"model": call.name, "version": str(call.version or "none")}, call.metrics)
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id, "X-Model-Name": call.name}
    if call.version is not None:
        headers["X-Model-Version"] = str(call.version)
    return {"statusCode": status, "headers": headers, "body": json.dumps(body)}
