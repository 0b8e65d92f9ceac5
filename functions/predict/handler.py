"""The prediction API: `POST /models/{name}/predict` and `GET /models/{name}`."""

from __future__ import annotations

import functools

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlcore.capture import CaptureWriter
from mlcore.errors import MlopsError, NotFoundError
from mlcore.inference import PredictionService, error_body
from mlcore.settings import PredictSettings
from mlruntime import logger, metrics, registry, store, tracer

app = APIGatewayRestResolver()


@functools.cache
def service() -> PredictionService:
    config = PredictSettings()  # type: ignore[call-arg]
    return PredictionService(
        registry(config.registry_table),
        store(config.artifacts_bucket),
        CaptureWriter(store(config.capture_bucket)),
        max_rows=config.max_rows,
        alias_ttl_seconds=config.alias_ttl_seconds,
    )


@app.post("/models/<name>/predict")
def predict(name: str) -> dict:
    request_id = app.current_event.request_context.request_id
    result = service().predict(name, app.current_event.body, request_id)
    metrics.add_metric(name="PredictedRows", unit=MetricUnit.Count, value=len(result["predictions"]))
    return result


@app.get("/models/<name>")
def describe(name: str) -> dict:
    return service().describe(name)


@app.exception_handler(MlopsError)
def handle_error(error: MlopsError) -> Response:
    if error.status >= 500:
        logger.exception("request failed")
    metrics.add_metric(name=f"Error_{error.code}", unit=MetricUnit.Count, value=1)
    return Response(status_code=error.status, content_type="application/json", body=error_body(error))


@app.not_found
def unknown_route(_: Exception) -> Response:
    return handle_error(NotFoundError(f"no route {app.current_event.http_method} {app.current_event.path}"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
