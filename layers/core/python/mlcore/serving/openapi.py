"""The prediction API's OpenAPI 3.1 document, generated from the catalog's routes and body models.

`python -m mlcore.serving.openapi > functions/predict/openapi.json` writes the committed copy; a test
keeps the two equal, and the local target serves it at `GET /openapi.json`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from mlcore.catalog import GATEWAY_RESPONSES, ROUTES, ErrorResponse, Route

API_KEY_HEADER = "x-api-key"


def _ref(model: type[Any]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(route: Route) -> dict[str, Any]:
    """Every error status of a route, with what answers it: the function's errors and API Gateway's own."""
    described: dict[int, list[str]] = {}
    for error in route.errors:
        described.setdefault(error.status, []).append(f"`{error.code}`: {(error.__doc__ or '').strip()}")
    for response in GATEWAY_RESPONSES:
        about_a_body = response.type in ("BAD_REQUEST_BODY", "REQUEST_TOO_LARGE", "DEFAULT_4XX")
        if route.request is not None or not about_a_body:
            text = f"`{response.code}` (API Gateway): {response.message}"
            if text not in described.setdefault(response.status, []):
                described[response.status].append(text)
    return {str(status): _json(ErrorResponse, " | ".join(texts)) for status, texts in sorted(described.items())}


def _operation(route: Route) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in route.parameters
    ]
    parameters += [
        {"name": h.name, "in": "header", "required": False, "schema": {"type": "string"}, "description": h.description}
        for h in route.headers
    ]
    operation: dict[str, Any] = {"summary": route.summary, "parameters": parameters}
    if route.request is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(route.request)}}}
    operation["responses"] = {"200": _json(route.response, route.response_description), **_errors(route)}
    return operation


def component_schemas(models: list[type[Any]]) -> dict[str, Any]:
    """JSON Schemas (2020-12, as pydantic writes them) of `models` and of every model they use, by name."""
    components: dict[str, Any] = {}
    for model in models:
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return dict(sorted(components.items()))


DRAFT4 = "http://json-schema.org/draft-04/schema#"
# What JSON Schema draft 4 (API Gateway's request models) has no use for, or no such keyword.
_DROPPED = {"title", "description", "default", "example", "examples"}


def _draft4(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_draft4(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:  # inline: API Gateway resolves references only to other models, by URL
        return _draft4(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key == "$defs":
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):  # a number in 2020-12, a flag in draft 4
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key in ("properties", "patternProperties"):
            out[key] = {name: _draft4(sub, definitions) for name, sub in value.items()}
        else:
            out[key] = _draft4(value, definitions)
    return out


def _shape(node: dict[str, Any], member: bool) -> dict[str, Any]:
    """The body's shape only: which members it needs, which are arrays or objects, how many items.

    A member's value (a feature's type, a label, a row index) is left to the function, whose error
    names the row and field; `member` is True below the body's own properties.
    """
    out: dict[str, Any] = {}
    kind = node.get("type")
    if kind is not None and (not member or kind in ("array", "object", "null")):
        out["type"] = kind
    out.update({key: node[key] for key in ("required", "minItems", "maxItems") if key in node})
    if "properties" in node and not member:
        members = {name: _shape(sub, member=True) for name, sub in node["properties"].items()}
        if any(members.values()):
            out["properties"] = {name: sub for name, sub in members.items() if sub}
    for key in ("anyOf", "oneOf"):
        options = [_shape(option, member) for option in node.get(key, [])]
        if options and all(options):  # an option that accepts anything makes the whole keyword moot
            out[key] = options
    return out


def gateway_schema(model: type[Any]) -> dict[str, Any]:
    """The JSON Schema (draft 4) that API Gateway checks a request body's shape with, at the door."""
    schema = TypeAdapter(model).json_schema(mode="validation")
    return {"$schema": DRAFT4, "title": model.__name__, **_shape(_draft4(schema, schema.get("$defs", {})), False)}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the prediction API."""
    models = [m for route in ROUTES for m in (route.request, route.response) if m is not None]
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Serverless MLOps prediction API", "version": "1"},
        "components": {
            "schemas": component_schemas([*models, ErrorResponse]),
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    }


def main() -> None:
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
