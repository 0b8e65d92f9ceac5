"""From an API Gateway request to an answer: the call, the routes a function answers, errors as responses.

The one place an error becomes a response (`answer`): a core error its status and the error envelope,
anything else a 500 in the same envelope. The predict and govern functions route with it; numpy,
onnxruntime and boto3 are not needed to import it.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlcore.catalog import ROUTES
from mlcore.catalog import metrics as names
from mlcore.errors import BadRequestError, InternalError, MlopsError, NotFoundError
from mlcore.spec import NAME_PATTERN, is_valid_name

logger = logging.getLogger(__name__)


@dataclass
class Call:
    """One request: what it asks for, and what the response and the metrics report."""

    name: str
    body: str | None
    headers: Mapping[str, str]
    request_id: str
    params: Mapping[str, str] = field(default_factory=dict)  # the route's path parameters
    actor: str | None = None  # the principal ARN API Gateway authenticated (IAM routes)
    version: int | None = None
    status: int = 200  # an operation's answer other than 200 OK (202: accepted, waiting)
    metrics: dict[str, tuple[float, str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A request header, by case-insensitive name."""
        return next((v for k, v in self.headers.items() if k.lower() == name), None)


def path_parameters(event: Mapping[str, Any]) -> dict[str, str]:
    """A proxy event's path parameters, decoded: API Gateway's REST proxy passes them as the client encoded them
    (`Churn%5B1%5D`), and a message that names one shows what the client meant (`Churn[1]`)."""
    return {key: urllib.parse.unquote(value) for key, value in (event.get("pathParameters") or {}).items()}


# An operation takes the service its function holds (a PredictionService, a Governance) and the call.
Operation = Callable[[Any, Call], dict[str, Any]]


def router(function: str, operations: Mapping[str, Operation]) -> dict[tuple[str, str], Operation]:
    """`{(method, path): operation}` of the routes a function answers, from its operations by name."""
    return {(route.method, route.path): operations[route.operation] for route in ROUTES if route.function == function}


def error_body(error: MlopsError, request_id: str | None = None) -> dict[str, Any]:
    """The API's error document: `{"error": {"code", "message", "request_id"}}` (and the field, when known)."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    if request_id:
        body["request_id"] = request_id
    return {"error": body}


def answer(service: Any, operation: Operation | None, call: Call, what: str) -> tuple[int, dict[str, Any]]:
    """Run an operation; a core error becomes its status and the error document (`what` names an unknown route),
    a dependency that did not answer (an AWS error) 503, anything else 500: always the error envelope."""
    try:
        if operation is None:
            raise NotFoundError(f"no route {what}")
        if call.name and not is_valid_name(call.name):  # before it is looked up
            raise BadRequestError(f"name: {call.name[:64]!r} is not a model name ({NAME_PATTERN})", field="name")
        answered = operation(service, call)
        return call.status, answered
    except MlopsError as error:
        if error.status >= 500:
            logger.exception("request failed", extra={"model": call.name, "code": error.code})
        call.metrics[names.ERRORS_PREFIX + error.code] = (1, "Count")
        return error.status, error_body(error, call.request_id)
    except Exception:  # our fault: say so in the envelope rather than let API Gateway answer a bare 502
        logger.exception("request failed unexpectedly", extra={"model": call.name})
        ours = InternalError("the service failed; the request id identifies it in our logs")
        call.metrics[names.ERRORS_PREFIX + ours.code] = (1, "Count")
        return ours.status, error_body(ours, call.request_id)
