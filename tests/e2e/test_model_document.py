"""`GET /models/{name}/openapi.json` says exactly what the API answers: valid under it is 200, invalid is 4xx.

Rows are drawn from the document's own instance schema (a strategy read from it); invalid ones are
valid rows with one mistake a client makes. Each body is checked against the document (JSON
Schema 2020-12) before it is sent, so the test holds the document and the API to each other.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.local.demo import DemoResult
from infra.operations import Platform

pytestmark = pytest.mark.e2e
MODEL = "churn"


def document(platform: Platform) -> dict[str, Any]:
    status, body = platform.call_api("GET", f"/models/{MODEL}/openapi.json")
    assert status == 200
    return body


@pytest.fixture(scope="module")
def model_document(demo: DemoResult, platform: Platform) -> dict[str, Any]:
    """The document of the champion the registry names, once the API serves it: the predict function re-reads the
    alias at most every ALIAS_TTL_SECONDS (30), and an earlier test may have rolled back and restored it."""
    import time

    champion = platform.registry.champion(MODEL)
    assert champion is not None
    deadline = time.monotonic() + 45
    while platform.call_api("GET", f"/models/{MODEL}")[1]["version"] != champion.version:
        assert time.monotonic() < deadline, "the API still serves another champion than the registry's"
        time.sleep(1)
    return document(platform)


def request_validator(doc: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """The document's predict request schema, its references resolved within the document."""
    schema = {"$ref": f"#/components/schemas/{MODEL}-predict-request", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


def post(platform: Platform, body: Any) -> int:
    request = urllib.request.Request(
        f"{platform.resources.api_url}/models/{MODEL}/predict", data=json.dumps(body).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def instance_schema(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["components"]["schemas"][f"{MODEL}-instance"])


def values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any value a feature's schema allows: a number in its bounds, a listed category, any text; null if nullable."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "number" in types and "multipleOf" in schema:  # an integer feature: whole numbers, written 3 or 3.0
        whole = st.integers(min_value=math.ceil(schema["minimum"]), max_value=math.floor(schema["maximum"]))
        base = whole | whole.map(float)
    elif "number" in types:
        low, high = schema["minimum"], schema["maximum"]
        base = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
        if high - low < 1e15:
            base |= st.integers(min_value=math.ceil(low), max_value=math.floor(high))
    elif "enum" in schema:
        base = st.sampled_from([value for value in schema["enum"] if value is not None])
    else:
        base = st.text(max_size=12)
    return st.none() | base if "null" in types else base


def from_schema(instance: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Rows valid under the instance schema: its required features, and any of the others (or not)."""
    properties, required = instance["properties"], set(instance["required"])
    return st.fixed_dictionaries(
        {name: values(schema) for name, schema in properties.items() if name in required},
        optional={name: values(schema) for name, schema in properties.items() if name not in required},
    )


def test_the_document_describes_the_champions_features(
    demo: DemoResult, platform: Platform, model_document: dict[str, Any]
) -> None:
    from openapi_spec_validator import validate

    validate(model_document)
    instance = instance_schema(model_document)
    assert instance["additionalProperties"] is False
    assert "data_usage_gb" not in instance["required"] and "age" in instance["required"]
    assert instance["properties"]["plan"] == {"type": "string", "enum": ["basic", "standard", "premium"]}
    assert instance["properties"]["region"] == {"type": "string"}  # allow_unseen: any region
    # integer features take whole numbers (3 or 3.0)
    assert instance["properties"]["age"] == {"type": "number", "minimum": 18, "maximum": 100, "multipleOf": 1}
    assert instance["properties"]["monthly_charges"] == {"type": "number", "minimum": 0, "maximum": 500}
    assert instance["properties"]["data_usage_gb"]["type"] == ["number", "null"]
    rows = model_document["components"]["schemas"][f"{MODEL}-predict-request"]["properties"]["instances"]
    assert (rows["minItems"], rows["maxItems"]) == (1, 1000)
    _, described = platform.call_api("GET", f"/models/{MODEL}")  # the version the function serves now
    assert model_document["info"]["title"] == f"Model '{MODEL}' (champion v{described['version']})"


def split_of(rows: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    return {"dataframe_split": {"columns": columns, "data": [[row.get(c) for c in columns] for row in rows]}}


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_request_valid_under_the_document_is_answered(
    data: st.DataObject, platform: Platform, model_document: dict[str, Any]
) -> None:
    rows = data.draw(st.lists(from_schema(instance_schema(model_document)), min_size=1, max_size=8))
    columns = model_document["components"]["schemas"][f"{MODEL}-predict-request"]["properties"]["dataframe_split"]
    body = data.draw(st.sampled_from([{"instances": rows}, split_of(rows, columns["properties"]["columns"]["const"])]))
    assert request_validator(model_document).is_valid(body)
    assert post(platform, body) == 200, body


def _mistakes(row: dict[str, Any], instance: dict[str, Any]) -> list[dict[str, Any]]:
    """The row with one client mistake each: a missing, unknown, mistyped, out-of-range or unlisted value."""
    properties, required = instance["properties"], instance["required"]
    wrong: list[dict[str, Any]] = [{k: v for k, v in row.items() if k != required[0]}, {**row, "colour": "red"}]
    for name, schema in properties.items():
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if "number" in types:
            wrong += [{**row, name: "12"}, {**row, name: True}, {**row, name: schema["maximum"] * 2 + 1}]
            wrong.append({**row, name: schema["minimum"] - 1 if math.isfinite(schema["minimum"]) else -1e39})
            if "multipleOf" in schema:
                wrong.append({**row, name: schema["minimum"] + 0.5})
        else:
            wrong.append({**row, name: 3})
            if "enum" in schema:
                wrong.append({**row, name: "not-a-" + name})
        if "null" not in types:
            wrong.append({**row, name: None})
    return wrong


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_request_invalid_under_the_document_is_refused_with_a_4xx(
    data: st.DataObject, platform: Platform, model_document: dict[str, Any]
) -> None:
    instance = instance_schema(model_document)
    row = data.draw(from_schema(instance))
    validator = request_validator(model_document)
    bodies = [{"instances": [row, wrong]} for wrong in _mistakes(row, instance)]
    bodies += [{"instances": []}, {"instances": [row] * 1001}, {}, {"instances": [row], "dataframe_split": {}}]
    for body in bodies:
        assert not validator.is_valid(body), body
        assert 400 <= post(platform, body) < 500, body
