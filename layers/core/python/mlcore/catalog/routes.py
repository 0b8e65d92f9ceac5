"""The routes of the REST API: method, path, the operation that answers, bodies and the errors it returns.

API Gateway's resources, methods and request models (infra/constructs/serving.py), the predict
function's router, the OpenAPI document and the local API all derive from `ROUTES`.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from mlcore.catalog.api import (
    DescribeResponse,
    FeedbackRequest,
    FeedbackResponse,
    ModelDocument,
    PredictRequest,
    PredictResponse,
)
from mlcore.catalog.functions import PREDICT
from mlcore.errors import (
    BadRequestError,
    MlopsError,
    ModelNotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)

ROUTING_KEY_HEADER = "x-routing-key"


@dataclass(frozen=True)
class Header:
    name: str
    description: str


@dataclass(frozen=True)
class Route:
    """One method on one path of the API."""

    method: str
    path: str  # `{name}` segments are path parameters
    operation: str  # the core function that answers (mlcore.serving.api.OPERATIONS)
    summary: str
    response: type[Any]
    response_description: str
    errors: tuple[type[MlopsError], ...]
    request: type[Any] | None = None  # the JSON body, validated by API Gateway before the function runs
    headers: tuple[Header, ...] = ()
    function: str = PREDICT  # the Lambda function behind it (catalog.functions)

    @property
    def parameters(self) -> list[str]:
        return re.findall(r"\{([A-Za-z0-9_]+)\}", self.path)

    def url_path(self, **parameters: str) -> str:
        """The path with its parameters filled in: `/models/churn/predict`."""
        return self.path.format(**{name: urllib.parse.quote(value, safe="") for name, value in parameters.items()})


_SERVED = (BadRequestError, ModelNotFoundError, ServiceUnavailableError)
PREDICT_ROUTE = Route(
    "POST",
    "/models/{name}/predict",
    "score",
    "Score rows with the model behind the champion alias (or a canary challenger).",
    PredictResponse,
    "Predictions",
    (*_SERVED, PayloadTooLargeError),
    request=PredictRequest,
    headers=(Header(ROUTING_KEY_HEADER, "Routes a caller to the same side of a canary rollout every time."),),
)
FEEDBACK_ROUTE = Route(
    "POST",
    "/models/{name}/feedback",
    "feedback",
    "Store the ground truth of served predictions, for performance monitoring.",
    FeedbackResponse,
    "Stored",
    (*_SERVED, PayloadTooLargeError),
    request=FeedbackRequest,
)
DESCRIBE_ROUTE = Route(
    "GET",
    "/models/{name}",
    "describe",
    "The serving version, its input signature and any rollout.",
    DescribeResponse,
    "The serving version",
    _SERVED,
)
MODEL_DOCUMENT_ROUTE = Route(
    "GET",
    "/models/{name}/openapi.json",
    "model_document",
    "This model's OpenAPI document: every feature with its type, categories, bounds and nullability, from the "
    "champion's signature; a request valid under it is answered.",
    ModelDocument,
    "The document",
    _SERVED,
)
ROUTES: tuple[Route, ...] = (PREDICT_ROUTE, FEEDBACK_ROUTE, DESCRIBE_ROUTE, MODEL_DOCUMENT_ROUTE)
