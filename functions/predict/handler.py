"""The prediction API: every route of `mlcore.catalog.ROUTES` that this function answers.

Routing is a dictionary lookup on the proxy event's resource: the hot path carries no more than
it must (see bench/serving.py). Tracing comes from Lambda's active tracing of the invocation, logs
from Lambda's JSON log format, metrics from embedded-metric-format lines.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Any

from mlcore.catalog import PREDICT, PredictSettings
from mlcore.catalog import metrics as names
from mlcore.registry import Registry
from mlcore.routing import Call, answer, path_parameters, router
from mlcore.serving import OPERATIONS, CaptureBuffer, OnlineStore, PredictionService, RequestIds, jsonio
from mlcore.spec import is_valid_name
from mlcore.storage import ObjectStore
from mlruntime import emit_metrics, on_shutdown
from mlruntime.lightaws import KMS, S3, DynamoDB

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", names.NAMESPACE)
ROUTES = router(PREDICT, OPERATIONS)


@functools.cache
def settings() -> PredictSettings:
    return PredictSettings()


@functools.cache
def service() -> PredictionService:
    # boto3 costs ~0.5 s of a cold start; these few calls go through the standard library instead.
    config, s3 = settings(), S3()
    capture = CaptureBuffer(
        ObjectStore(config.capture_bucket, s3),
        max_rows=config.capture_max_rows,
        max_age_seconds=config.capture_max_age_seconds,
        background=True,  # the request that fills the buffer does not wait for its Parquet file's PUT
    )
    on_shutdown(capture.flush)  # Lambda's SIGTERM at shutdown writes what is still buffered (in flight first)
    dynamodb = DynamoDB()
    return PredictionService(
        Registry(config.registry_table, dynamodb),
        ObjectStore(config.artifacts_bucket, s3),
        capture,
        max_rows=config.max_rows,
        max_body_bytes=config.max_body_bytes,
        alias_ttl_seconds=config.alias_ttl_seconds,
        online=OnlineStore(config.online_features_table, dynamodb),
        request_ids=lambda: RequestIds.derived(KMS(), config.request_id_key),  # on the first request
    )


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    request_id = (event.get("requestContext") or {}).get("requestId") or context.aws_request_id
    name = path_parameters(event).get("name", "")
    call = Call(name, event.get("body"), event.get("headers") or {}, request_id)
    method, resource = event.get("httpMethod", ""), event.get("resource", "")
    status, body = answer(service(), ROUTES.get((method, resource)), call, f"{method} {event.get('path')}")
    call.metrics.update(names.answer_metrics((time.perf_counter() - started) * 1000, status))
    known = is_valid_name(name)  # a client's text is never a metric's dimension nor a header
    # nor is a name that names no model (404): a client inventing names would add metrics, and alarm contributors
    model = ("unknown" if status == 404 else name) if known else "invalid"
    dimensions = {"model": model, "version": str(call.version or "none")}
    # by model too (its alarms), and the alarms' own metrics by model alone
    emit_metrics(NAMESPACE, dimensions, call.metrics, rollups=(("model",),), rollup_only=names.BY_MODEL_ONLY)
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
    if known:
        headers["X-Model-Name"] = name
    if call.version is not None:
        headers["X-Model-Version"] = str(call.version)
    return {"statusCode": status, "headers": headers, "body": jsonio.dumps(body)}
