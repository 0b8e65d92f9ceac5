"""The prediction API's OpenAPI 3.1 document, generated from the catalog's routes and body models.

`python -m mlcore.serving.openapi > functions/predict/openapi.json` writes the committed copy; a test
keeps the two equal, and the local target serves it at `GET /openapi.json`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter

from mlcore.catalog import (
    CLIENT_ROUTES,
    FEEDBACK_ROUTE,
    GATEWAY_RESPONSES,
    IAM_AUTH,
    PREDICT_ROUTE,
    ROUTES,
    ErrorResponse,
    Route,
    SignatureField,
    ViewBinding,
    limits,
)
from mlcore.serving.inputs import FLOAT, bounds

API_KEY_HEADER = "x-api-key"
SCHEMAS = "#/components/schemas/"  # where a $ref finds a body's schema
# Governance routes are signed with SigV4 (API Gateway's IAM authorization), as AWS's own extension names it.
SIGV4 = {"type": "apiKey", "in": "header", "name": "Authorization", "x-amazon-apigateway-authtype": "awsSigv4"}


def _ref(model: type[Any]) -> dict[str, str]:
    return {"$ref": f"{SCHEMAS}{model.__name__}"}


def _json(model: type[Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(route: Route) -> dict[str, Any]:
    """Every error status of a route, with what answers it: the function's errors and API Gateway's own."""
    described: dict[int, list[str]] = {}
    for error in route.errors:
        described.setdefault(error.status, []).append(f"`{error.code}`: {(error.__doc__ or '').strip()}")
    for response in GATEWAY_RESPONSES:
        about_a_body = response.type in ("BAD_REQUEST_BODY", "REQUEST_TOO_LARGE", "DEFAULT_4XX")
        about_a_key = response.type in ("INVALID_API_KEY", "QUOTA_EXCEEDED")
        if (route.request is not None or not about_a_body) and not (about_a_key and route.auth == IAM_AUTH):
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
    if route.auth == IAM_AUTH:
        operation["security"] = [{"sigv4": []}]
    if route.request is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(route.request)}}}
    operation["responses"] = {"200": _json(route.response, route.response_description), **_errors(route)}
    return operation


def component_schemas(models: list[type[Any]]) -> dict[str, Any]:
    """JSON Schemas (2020-12, as pydantic writes them) of `models` and of every model they use, by name."""
    components: dict[str, Any] = {}
    for model in models:
        schema = TypeAdapter(model).json_schema(ref_template=SCHEMAS + "{model}", mode="serialization")
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
    """The OpenAPI 3.1 document of the API: the clients' routes and governance's (IAM, SigV4)."""
    models = [m for route in ROUTES for m in (route.request, route.response) if m is not None]
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Serverless MLOps prediction API", "version": "1"},
        "components": {
            "schemas": component_schemas([*models, ErrorResponse]),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
                "sigv4": SIGV4,
            },
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    }


def feature_schema(field: SignatureField) -> dict[str, Any]:
    """What the API accepts for one feature: its type, categories or bounds, and null where it is nullable."""
    if field.type == FLOAT:
        low, high = bounds(field)
        schema: dict[str, Any] = {"type": "number", "minimum": low, "maximum": high}
        if field.integer:
            schema["multipleOf"] = 1  # 3 and 3.0, not 3.5
    else:
        schema = {"type": "string"}
        if field.categories is not None:
            schema["enum"] = list(field.categories)
    if field.nullable:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def _by_entity_keys(signature: list[SignatureField], views: Mapping[str, ViewBinding]) -> dict[str, Any]:
    """A row that names its entities instead of sending their views' features (read from the online store)."""
    from_views = {name for binding in views.values() for name in binding.features}
    keys = sorted({entity for binding in views.values() for entity in binding.entities})
    key = {"type": ["string", "integer"], "minLength": 1}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": sorted({*keys, *(f.name for f in signature if not f.nullable and f.name not in from_views)}),
        "properties": {**{f.name: feature_schema(f) for f in signature}, **{k: key for k in keys}},
        "description": "The entity keys of the model's feature views; each view feature left out is read from "
        "the online store (a 400 names it when the store has no value within the view's TTL).",
    }


def _model_bodies(
    name: str,
    signature: list[SignatureField],
    classes: list[str] | None,
    max_rows: int,
    views: Mapping[str, ViewBinding] | None = None,
) -> dict[str, Any]:
    """The request schemas of one model: its rows as objects (or by entity keys) or as a `dataframe_split`,
    and its labels."""
    instance: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in signature if not f.nullable],
        "properties": {f.name: feature_schema(f) for f in signature},
    }
    if views:
        instance = {"anyOf": [instance, _by_entity_keys(signature, views)]}
    rows = {"type": "array", "minItems": 1, "maxItems": max_rows}
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {"const": [f.name for f in signature]},
            "data": {
                **rows,
                "items": {
                    "type": "array",
                    "prefixItems": [feature_schema(f) for f in signature],
                    "items": False,
                    "minItems": len(signature),
                },
            },
        },
    }
    label = {"enum": list(classes)} if classes else {"type": "number"}
    feedback = {
        "type": "object",
        "additionalProperties": False,
        "required": ["request_id", "label"],
        "properties": {
            "request_id": {"type": "string", "minLength": 1},
            "row_index": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
            "label": label,
        },
    }
    return {
        f"{name}-instance": instance,
        f"{name}-predict-request": {
            "type": "object",
            "description": f"Rows for '{name}' (bodies over {limits.MAX_BODY_BYTES:,} bytes are refused).",
            "additionalProperties": False,
            "properties": {
                "instances": {**rows, "items": {"$ref": f"{SCHEMAS}{name}-instance"}},
                "dataframe_split": split,
            },
            "oneOf": [{"required": ["instances"]}, {"required": ["dataframe_split"]}],
        },
        f"{name}-feedback-request": {
            "anyOf": [
                {"$ref": f"{SCHEMAS}{name}-feedback"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["feedback"],
                    "properties": {
                        "feedback": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": limits.MAX_FEEDBACK,
                            "items": {"$ref": f"{SCHEMAS}{name}-feedback"},
                        }
                    },
                },
            ]
        },
        f"{name}-feedback": feedback,
    }


def model_document(
    name: str,
    version: int,
    signature: list[SignatureField],
    classes: list[str] | None,
    max_rows: int,
    *,
    views: Mapping[str, ViewBinding] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one model's routes, from its champion's signature (and its feature views).

    A request valid under it is answered (200); one that is not is refused (4xx). The exceptions: the API
    also takes a `dataframe_split` whose columns come in another order than the document's (or without a
    nullable feature's), and a row by
    entity keys is refused when the online store has no fresh value for a required feature.
    """
    bodies = _model_bodies(name, signature, classes, max_rows, views)
    document = openapi_document()
    document["info"] = {"title": f"Model '{name}' (champion v{version})", "version": str(version)}
    document["components"]["schemas"].update(bodies)
    requests = {PREDICT_ROUTE.path: f"{name}-predict-request", FEEDBACK_ROUTE.path: f"{name}-feedback-request"}
    paths: dict[str, dict[str, Any]] = {}
    for route in CLIENT_ROUTES:
        operation = _operation(route)
        operation["parameters"] = [p for p in operation["parameters"] if p["in"] != "path"]
        if route.path in requests:
            operation["requestBody"]["content"]["application/json"]["schema"] = {
                "$ref": f"{SCHEMAS}{requests[route.path]}"
            }
        paths.setdefault(route.url_path(name=name), {})[route.method.lower()] = operation
    document["paths"] = paths
    # the generic bodies this model's replace (their example is another model's rows) are left out
    schemas = document["components"]["schemas"]
    document["components"]["schemas"] = {name: schemas[name] for name in sorted(_referenced(paths, schemas))}
    return document


def _referenced(node: Any, schemas: Mapping[str, Any]) -> set[str]:
    """The component schemas `node` refers to, and those they refer to."""
    found: set[str] = set()
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            name = ref.removeprefix(SCHEMAS) if isinstance(ref, str) and ref.startswith(SCHEMAS) else None
            if name is not None and name not in found:
                found.add(name)
                pending.append(schemas[name])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def main() -> None:
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
