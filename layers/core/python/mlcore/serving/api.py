"""The operations behind the API's routes (`catalog.ROUTES`), and the one place errors become responses.

A route's `operation` names a function here; the predict function's handler turns the proxy event
into a `Call` and hands it to `answer`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlcore.catalog import ROUTES, ROUTING_KEY_HEADER, Route
from mlcore.catalog import metrics as names
from mlcore.errors import BadRequestError, MlopsError, NotFoundError
from mlcore.serving.feedback import record_feedback
from mlcore.serving.service import PredictionService, error_body
from mlcore.spec import NAME_PATTERN, is_valid_name

logger = logging.getLogger(__name__)


@dataclass
class Call:
    """One request: what it asks for, and what the response and the metrics report."""

    name: str
    body: str | None
    headers: Mapping[str, str]
    request_id: str
    version: int | None = None
    metrics: dict[str, tuple[float, str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A request header, by case-insensitive name."""
        return next((v for k, v in self.headers.items() if k.lower() == name), None)


def score(service: PredictionService, call: Call) -> dict[str, Any]:
    response, outcome = service.predict(call.name, call.body, call.request_id, call.header(ROUTING_KEY_HEADER))
    call.version = outcome.version
    call.metrics[names.PREDICTED_ROWS] = (outcome.rows, "Count")
    if outcome.shadow_version is not None:
        call.metrics[names.SHADOW_DISAGREEMENTS] = (outcome.shadow_disagreements, "Count")
    return response


def feedback(service: PredictionService, call: Call) -> dict[str, Any]:
    serving = service.serving(call.name)
    signer = service.signer()
    issued = (lambda request_id: signer.issued(request_id, call.name)) if signer else None
    stored = record_feedback(serving.spec, call.body, service.capture.store, serving.champion.model.classes, issued)
    call.metrics[names.FEEDBACK_LABELS] = (stored["accepted"], "Count")
    return stored


def describe(service: PredictionService, call: Call) -> dict[str, Any]:
    described = service.describe(call.name)
    call.version = described["version"]
    return described


def model_document(service: PredictionService, call: Call) -> dict[str, Any]:
    from mlcore.serving import openapi  # not on the predict path's cold start

    serving = service.serving(call.name)
    champion = serving.champion
    call.version = champion.version
    model = champion.model
    return openapi.model_document(
        call.name, champion.version, model.signature, model.classes, service.max_rows, views=serving.spec.views
    )


Operation = Callable[[PredictionService, Call], dict[str, Any]]
OPERATIONS: dict[str, Operation] = {op.__name__: op for op in (score, feedback, describe, model_document)}


def router(function: str) -> dict[tuple[str, str], Operation]:
    """`{(method, path): operation}` of the routes a function answers."""
    routes: list[Route] = [route for route in ROUTES if route.function == function]
    return {(route.method, route.path): OPERATIONS[route.operation] for route in routes}


def answer(
    service: PredictionService, operation: Operation | None, call: Call, what: str
) -> tuple[int, dict[str, Any]]:
    """Run an operation; a core error becomes its status and the error document (`what` names an unknown route),
    a dependency that did not answer (an AWS error) 503, anything else 500: always the error envelope."""
    try:
        if operation is None:
            raise NotFoundError(f"no route {what}")
        if call.name and not is_valid_name(call.name):  # before it is looked up
            raise BadRequestError(f"name: {call.name[:64]!r} is not a model name ({NAME_PATTERN})", field="name")
        return 200, operation(service, call)
    except MlopsError as error:
        if error.status >= 500:
            logger.exception("request failed", extra={"model": call.name, "code": error.code})
        call.metrics[names.ERRORS_PREFIX + error.code] = (1, "Count")
        return error.status, error_body(error, call.request_id)
    except Exception:  # our fault: say so in the envelope rather than let API Gateway answer a bare 502
        logger.exception("request failed unexpectedly", extra={"model": call.name})
        ours = MlopsError("the prediction service failed; the request id identifies it in our logs")
        call.metrics[names.ERRORS_PREFIX + ours.code] = (1, "Count")
        return ours.status, error_body(ours, call.request_id)
