"""The REST API contract through the local HTTP API (a client's mistakes are 4xx naming the field)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from infra.local.demo import DemoResult
from infra.local.target import LocalTarget
from infra.operations import Platform, Resources
from mlcore.catalog import OUTPUTS, ROUTES

pytestmark = pytest.mark.e2e
ROW = {
    "tenure_months": 12,
    "monthly_charges": 70.5,
    "support_calls": 1,
    "age": 41,
    "data_usage_gb": 11.2,
    "plan": "standard",
    "region": "north",
}


def raw_post(platform: Platform, path: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(platform.resources.api_url + path, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_predict_contract(demo: DemoResult, platform: Platform) -> None:
    status, body = platform.predict("churn", [ROW, {**ROW, "data_usage_gb": None}])
    assert status == 200
    assert len(body["predictions"]) == 2 and set(body["predictions"]) <= {"yes", "no"}
    assert set(body["probabilities"][0]) == {"yes", "no"}
    assert body["model"]["name"] == "churn" and isinstance(body["model"]["version"], int)
    assert body["request_id"]


def test_describe_returns_the_serving_version_and_signature(demo: DemoResult, platform: Platform) -> None:
    status, body = platform.call_api("GET", "/models/churn")
    assert status == 200
    assert [f["name"] for f in body["signature"]][:2] == ["tenure_months", "monthly_charges"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b"{}",
        json.dumps({"instances": []}).encode(),
        json.dumps({"instances": {"age": 3}}).encode(),
    ],
)
def test_a_body_of_the_wrong_shape_is_refused_at_the_door_in_the_error_envelope(
    demo: DemoResult, platform: Platform, body: bytes
) -> None:
    """API Gateway's request model refuses it (the local API checks the same model), in the API's envelope."""
    got_status, got = raw_post(platform, "/models/churn/predict", body)
    assert got_status == 400
    assert got["error"]["code"] == "bad_request"
    assert "`instances` (a non-empty list of rows)" in got["error"]["message"]
    assert got["error"]["field"] == "body"
    assert got["error"]["request_id"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (json.dumps({"instances": [{k: v for k, v in ROW.items() if k != "age"}]}).encode(), 400, "instances[0].age"),
        (json.dumps({"instances": [{**ROW, "colour": "red"}]}).encode(), 400, "instances[0].colour"),
        (json.dumps({"instances": [ROW, {**ROW, "age": "old"}]}).encode(), 400, "instances[1].age"),
        (json.dumps({"instances": [{**ROW, "plan": 3}]}).encode(), 400, "instances[0].plan"),
        (json.dumps({"instances": [{**ROW, "age": None}]}).encode(), 400, "instances[0].age"),
        (json.dumps({"instances": [ROW] * 1001}).encode(), 413, "instances"),
    ],
)
def test_client_mistakes_are_4xx_naming_the_field(
    demo: DemoResult, platform: Platform, body: bytes, status: int, field: str
) -> None:
    got_status, got = raw_post(platform, "/models/churn/predict", body)
    assert got_status == status
    assert got["error"]["field"] == field
    assert got["error"]["message"].startswith(field) or field == "body"


def test_unknown_model_is_404(demo: DemoResult, platform: Platform) -> None:
    status, body = platform.predict("no-such-model", [ROW])
    assert status == 404
    assert body["error"]["code"] == "model_not_found"


def test_the_local_target_serves_the_catalog_routes_and_names_the_catalog_outputs(target: LocalTarget) -> None:
    assert {(route.method, route.path) for route in target.deployment.routes} == {
        (route.method, route.path) for route in ROUTES
    }
    outputs = target.names()["outputs"]
    assert {output.resource for output in OUTPUTS if output.required} <= set(outputs)
    assert outputs["registry_table"] == Resources.discover(target.names()).registry_table


def test_an_unknown_route_gets_the_gateways_answer_in_the_envelope(demo: DemoResult, platform: Platform) -> None:
    # (an OPTIONS is a browser's CORS preflight: the API answers no such method, in the envelope, not HTML)
    for method, path in (
        ("POST", "/models/churn/retrain"),
        ("DELETE", "/models/churn"),
        ("OPTIONS", "/models/churn/predict"),
    ):
        status, body = platform.call_api(method, path, {} if method == "POST" else None)
        assert (status, body["error"]["code"]) == (403, "forbidden")
        assert body["error"]["message"] == "no such route, or the request is not signed"


def test_a_body_beyond_api_gateways_limit_is_413_in_the_envelope(demo: DemoResult, platform: Platform) -> None:
    status, body = raw_post(platform, "/models/churn/predict", b"x" * (10 * 1024 * 1024 + 1))
    assert (status, body["error"]["code"], body["error"]["field"]) == (413, "payload_too_large", "body")


def test_a_crashed_function_is_502_in_the_envelope(
    demo: DemoResult, target: LocalTarget, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.local.runner import FunctionError

    def crash(function: str, event: object) -> object:
        raise FunctionError("MemoryError", "out of memory", [])

    monkeypatch.setattr(target.functions, "invoke", crash)
    request = urllib.request.Request(platform.resources.api_url + "/models/churn", method="GET")
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10)
    body = json.loads(answer.value.read())
    assert (answer.value.code, body["error"]["code"]) == (502, "bad_gateway")
    assert answer.value.headers["X-Request-Id"] == body["error"]["request_id"]
