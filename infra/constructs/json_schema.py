"""A JSON Schema document as CDK's `apigateway.JsonSchema` (the request models of a REST API)."""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import aws_apigateway as apigw

# JSON Schema keywords whose CDK property name is not their snake_case spelling.
_RENAMED = {"$schema": "schema", "$ref": "ref", "not": "not_"}
_SCHEMAS = {"items", "additionalProperties", "additionalItems", "not", "contains", "propertyNames"}
_SCHEMA_LISTS = {"anyOf", "allOf", "oneOf"}
_SCHEMA_MAPS = {"properties", "patternProperties", "definitions"}


def _snake(name: str) -> str:
    return _RENAMED.get(name) or re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _type(value: str | list[str]) -> Any:
    if isinstance(value, list):
        return [apigw.JsonSchemaType[v.upper()] for v in value]
    return apigw.JsonSchemaType[value.upper()]


def to_cdk(schema: dict[str, Any]) -> apigw.JsonSchema:
    """Convert a draft 4 schema (a dict) into `apigateway.JsonSchema`, keyword by keyword."""
    properties: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$schema":
            converted: Any = apigw.JsonSchemaVersion.DRAFT4
        elif key == "type":
            converted = _type(value)
        elif key in _SCHEMAS and isinstance(value, dict):
            converted = to_cdk(value)
        elif key in _SCHEMA_LISTS:
            converted = [to_cdk(item) for item in value]
        elif key in _SCHEMA_MAPS:
            converted = {name: to_cdk(item) for name, item in value.items()}
        else:
            converted = value
        properties[_snake(key)] = converted
    return apigw.JsonSchema(**properties)
