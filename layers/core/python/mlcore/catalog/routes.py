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
    AliasRequest,
    AliasResponse,
    AuditResponse,
    DescribeResponse,
    FeedbackRequest,
    FeedbackResponse,
    ModelDocument,
    PredictRequest,
    PredictResponse,
    RollbackRequest,
    RunRequest,
    RunResponse,
    SpecRequest,
    SpecResponse,
    StatusChangeRequest,
    StatusChangeResponse,
)
from mlcore.catalog.functions import GOVERN, PREDICT
from mlcore.errors import (
    BadRequestError,
    ConflictError,
    DependencyError,
    ForbiddenError,
    InternalError,
    MlopsError,
    ModelNotFoundError,
    ModelRetiredError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)

ROUTING_KEY_HEADER = "x-routing-key"
# How API Gateway authenticates a route: the client's way (an API key, or IAM with `mlops:apiAuth=iam`), or always
# IAM (SigV4): governance records the caller's principal ARN from the request context, never a value it sends.
CLIENT_AUTH, IAM_AUTH = "client", "iam"


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
    auth: str = CLIENT_AUTH

    @property
    def parameters(self) -> list[str]:
        return re.findall(r"\{([A-Za-z0-9_]+)\}", self.path)

    def url_path(self, **parameters: str) -> str:
        """The path with its parameters filled in: `/models/churn/predict`."""
        return self.path.format(**{name: urllib.parse.quote(value, safe="") for name, value in parameters.items()})


# what a client route may answer on its own (besides API Gateway's): a feature store or S3 that did not answer
# is a dependency's 503; anything unforeseen our 500
_SERVED = (
    BadRequestError,
    ModelNotFoundError,
    ModelRetiredError,
    NotFoundError,
    ServiceUnavailableError,
    DependencyError,
    InternalError,
)
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
CLIENT_ROUTES: tuple[Route, ...] = (PREDICT_ROUTE, FEEDBACK_ROUTE, DESCRIBE_ROUTE, MODEL_DOCUMENT_ROUTE)

# Governance: every route IAM-authorised and answered by the govern function.
_GOVERNED = (BadRequestError, ForbiddenError, NotFoundError, ConflictError, DependencyError)


def _status_route(action: str, operation: str, summary: str) -> Route:
    return Route(
        "POST",
        f"/models/{{name}}/versions/{{version}}/{action}",
        operation,
        summary,
        StatusChangeResponse,
        "The version's new status, and what it did to serving",
        _GOVERNED,
        request=StatusChangeRequest,
        function=GOVERN,
        auth=IAM_AUTH,
    )


APPROVE_ROUTE = _status_route("approve", "approve", "Approve a pending version (it may then be served).")
REJECT_ROUTE = _status_route(
    "reject",
    "reject",
    "Reject a pending version, or recall an approved one: it is never served again; a rejected champion falls "
    "back to the newest other approved version, and the alerts topic says so.",
)
ARCHIVE_ROUTE = _status_route("archive", "archive", "Archive an approved version: it stops being served.")
ALIAS_ROUTE = Route(
    "PUT",
    "/models/{name}/aliases/{alias}",
    "move_alias",
    "Point `champion` at an approved version (promote), or start a `challenger` rollout (canary or shadow).",
    AliasResponse,
    "The alias as moved",
    _GOVERNED,
    request=AliasRequest,
    function=GOVERN,
    auth=IAM_AUTH,
)
END_ROLLOUT_ROUTE = Route(
    "DELETE",
    "/models/{name}/aliases/{alias}",
    "remove_alias",
    "End a rollout: remove the `challenger` alias (the champion cannot be removed, only moved or rolled back).",
    AliasResponse,
    "The alias removed",
    _GOVERNED,
    function=GOVERN,
    auth=IAM_AUTH,
)
ROLLBACK_ROUTE = Route(
    "POST",
    "/models/{name}/aliases/{alias}/rollback",
    "rollback",
    "Point the alias back at the version it served before.",
    AliasResponse,
    "The alias as rolled back",
    _GOVERNED,
    request=RollbackRequest,
    function=GOVERN,
    auth=IAM_AUTH,
)
AUDIT_ROUTE = Route(
    "GET",
    "/models/{name}/audit",
    "audit",
    "The model's audit trail: every registration, status change and alias move, with the principal and time.",
    AuditResponse,
    "The audit trail",
    _GOVERNED,
    function=GOVERN,
    auth=IAM_AUTH,
)
SPEC_ROUTE = Route(
    "PUT",
    "/models/{name}/spec",
    "register_spec",
    "Register a model's spec, or change it; a change that loosens its governance waits for an approver (202).",
    SpecResponse,
    "Registered (200), or waiting for an approver (202)",
    _GOVERNED,
    request=SpecRequest,
    function=GOVERN,
    auth=IAM_AUTH,
)
SPEC_APPROVAL_ROUTE = Route(
    "POST",
    "/models/{name}/spec/approve",
    "approve_spec",
    "Apply the spec change that waits for an approver; its proposer may not (403).",
    SpecResponse,
    "Applied",
    _GOVERNED,
    request=StatusChangeRequest,
    function=GOVERN,
    auth=IAM_AUTH,
)
RUNS_ROUTE = Route(
    "POST",
    "/models/{name}/runs",
    "start_run",
    "Start a training run; the caller is recorded as its starter (who, with separation of duties, may not approve "
    "the version it trains).",
    RunResponse,
    "Started",
    (*_GOVERNED, ModelRetiredError),
    request=RunRequest,
    function=GOVERN,
    auth=IAM_AUTH,
)
GOVERNANCE_ROUTES: tuple[Route, ...] = (
    SPEC_ROUTE,
    RUNS_ROUTE,
    SPEC_APPROVAL_ROUTE,
    APPROVE_ROUTE,
    REJECT_ROUTE,
    ARCHIVE_ROUTE,
    ALIAS_ROUTE,
    END_ROLLOUT_ROUTE,
    ROLLBACK_ROUTE,
    AUDIT_ROUTE,
)
ROUTES: tuple[Route, ...] = CLIENT_ROUTES + GOVERNANCE_ROUTES

# The managed policies the serving stack exports, by the routes each may invoke (execute-api:Invoke on the route's
# method and path; a model's own policies name it in the path). ModelReader reads; ModelDeveloper registers specs;
# approving and moving aliases are different duties, so that one person need not hold both.
GOVERNANCE_POLICIES: dict[str, tuple[Route, ...]] = {
    "ModelReader": (AUDIT_ROUTE, DESCRIBE_ROUTE, MODEL_DOCUMENT_ROUTE),
    "ModelDeveloper": (SPEC_ROUTE, RUNS_ROUTE),
    "ModelApprover": (APPROVE_ROUTE, REJECT_ROUTE, ARCHIVE_ROUTE, SPEC_APPROVAL_ROUTE),
    "ModelPromoter": (ALIAS_ROUTE, END_ROLLOUT_ROUTE, ROLLBACK_ROUTE),
}


def granting_duty(route: Route) -> str | None:
    """The duty whose managed policies (every model's, or one model's) let a caller invoke a governance route."""
    return next((duty for duty, routes in GOVERNANCE_POLICIES.items() if route in routes), None)
