"""What API Gateway answers on its own (before or instead of the function), in the API's error envelope.

Each entry becomes a gateway response of the REST API (its status, and a body
`{"error": {"code", "message", "field"?, "request_id"}}` with the `X-Request-Id` header), an error of every
operation in the OpenAPI document, and what the local API answers in the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlcore.catalog.limits import MAX_FEEDBACK


@dataclass(frozen=True)
class GatewayResponse:
    type: str  # API Gateway's response type
    status: int
    code: str
    message: str  # static text: the gateway's own strings are not JSON-escaped
    field: str | None = None  # the part of the request at fault, as the function's errors name it


FORBIDDEN = "forbidden"
GATEWAY_RESPONSES: tuple[GatewayResponse, ...] = (
    GatewayResponse(
        "BAD_REQUEST_BODY",
        400,
        "bad_request",
        "the body must be a JSON object: `instances` (a non-empty list of rows) or `dataframe_split` to predict; "
        f"a label (`request_id`, `label`) or `feedback` (a list of 1 to {MAX_FEEDBACK} labels) for feedback; for "
        "governance, `{}` or "
        "the route's members (`reason`; `version` to move an alias); see /openapi.json",
        field="body",
    ),
    GatewayResponse("MISSING_AUTHENTICATION_TOKEN", 403, FORBIDDEN, "no such route, or the request is not signed"),
    GatewayResponse(
        "INVALID_API_KEY", 403, FORBIDDEN, "the x-api-key header is missing or not a valid key", field="x-api-key"
    ),
    GatewayResponse("ACCESS_DENIED", 403, FORBIDDEN, "the caller may not call this route"),
    GatewayResponse("INVALID_SIGNATURE", 403, FORBIDDEN, "the request's signature does not match"),
    GatewayResponse("EXPIRED_TOKEN", 403, FORBIDDEN, "the request's credentials have expired"),
    GatewayResponse(
        "REQUEST_TOO_LARGE", 413, "payload_too_large", "the body exceeds API Gateway's 10 MB", field="body"
    ),
    GatewayResponse("THROTTLED", 429, "throttled", "too many requests: retry with backoff"),
    GatewayResponse("QUOTA_EXCEEDED", 429, "quota_exceeded", "the API key's monthly quota is used up"),
    GatewayResponse("INTEGRATION_FAILURE", 502, "bad_gateway", "the prediction function failed; retry later"),
    GatewayResponse("DEFAULT_5XX", 502, "bad_gateway", "the prediction function failed; retry later"),
    GatewayResponse("INTEGRATION_TIMEOUT", 504, "gateway_timeout", "the prediction function did not answer in time"),
    GatewayResponse("DEFAULT_4XX", 400, "bad_request", "the request was refused by API Gateway"),
)
GATEWAY_RESPONSE = {response.type: response for response in GATEWAY_RESPONSES}
REQUEST_ID_HEADER = "X-Request-Id"
# API Gateway's own limit on a request's payload.
MAX_GATEWAY_PAYLOAD_BYTES = 10 * 1024 * 1024


def gateway_body(response: GatewayResponse, request_id: str) -> dict[str, dict[str, str]]:
    """The body the gateway (or the local API in its place) answers with: the function's envelope."""
    error = {"code": response.code, "message": response.message}
    if response.field:
        error["field"] = response.field
    return {"error": {**error, "request_id": request_id}}
