"""The prediction API's OpenAPI 3 document, generated from the models below.

`python -m mlcore.serving.openapi > functions/predict/openapi.json` writes the committed copy; a test
keeps the two equal, and the local target serves it at `GET /openapi.json`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from mlcore.catalog.api import (
    DescribeResponse,
    ErrorResponse,
    Feedback,
    FeedbackBatch,
    FeedbackResponse,
    PredictRequest,
    PredictResponse,
)
from mlcore.errors import (
    BadRequestError,
    MlopsError,
    ModelNotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)

SCHEMAS: dict[str, Any] = {
    "PredictRequest": PredictRequest,
    "PredictResponse": PredictResponse,
    "DescribeResponse": DescribeResponse,
    "FeedbackRequest": Feedback | FeedbackBatch,
    "FeedbackResponse": FeedbackResponse,
    "ErrorResponse": ErrorResponse,
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _errors(*errors: type[MlopsError]) -> dict[str, Any]:
    return {str(e.status): _json("ErrorResponse", f"`{e.code}`: {(e.__doc__ or '').strip()}") for e in errors}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the prediction API (JSON Schema 2020-12, as pydantic writes it)."""
    components: dict[str, Any] = {}
    for name, model in SCHEMAS.items():
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        components.update(schema.pop("$defs", {}))
        components[name] = schema
    name_parameter = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    common = _errors(BadRequestError, ModelNotFoundError, ServiceUnavailableError)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Serverless MLOps prediction API", "version": "1"},
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/models/{name}/predict": {
                "post": {
                    "summary": "Score rows with the model behind the champion alias (or a canary challenger).",
                    "parameters": [
                        name_parameter,
                        {
                            "name": "x-routing-key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "Routes a caller to the same side of a canary rollout every time.",
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
                    },
                    "responses": {
                        "200": _json("PredictResponse", "Predictions"),
                        **common,
                        **_errors(PayloadTooLargeError),
                    },
                }
            },
            "/models/{name}/feedback": {
                "post": {
                    "summary": "Store the ground truth of served predictions, for performance monitoring.",
                    "parameters": [name_parameter],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}},
                    },
                    "responses": {
                        "200": _json("FeedbackResponse", "Stored"),
                        **common,
                        **_errors(PayloadTooLargeError),
                    },
                }
            },
            "/models/{name}": {
                "get": {
                    "summary": "The serving version, its input signature and any rollout.",
                    "parameters": [name_parameter],
                    "responses": {"200": _json("DescribeResponse", "The serving version"), **common},
                }
            },
        },
    }


def main() -> None:
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
