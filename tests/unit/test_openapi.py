"""The committed OpenAPI document is the one the code generates; API Gateway's request models check shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from mlcore.catalog import GATEWAY_RESPONSE, GATEWAY_RESPONSES, ROUTES, gateway_body
from mlcore.serving import gateway_schema, openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "functions" / "predict" / "openapi.json"


def test_committed_document_matches_the_code() -> None:
    assert json.loads(COMMITTED.read_text()) == openapi_document(), "run `make openapi` and commit the result"


def test_document_is_valid_and_covers_every_route() -> None:
    document = openapi_document()
    validate(document)
    assert set(document["paths"]) == {route.path for route in ROUTES}
    assert "/models/{name}/openapi.json" in document["paths"]
    predict = document["paths"]["/models/{name}/predict"]["post"]
    assert {"200", "400", "404", "413", "503"} <= set(predict["responses"])


# -- API Gateway's request models: the body's shape at the door, values left to the function ------

SHAPE_ERRORS = [
    ("PredictRequest", {}),
    ("PredictRequest", {"instances": []}),
    ("PredictRequest", {"instances": {"age": 3}}),
    ("PredictRequest", {"instances": [{"age": 3}], "dataframe_split": {"columns": [], "data": [[]]}}),
    ("PredictRequest", {"dataframe_split": {"columns": ["age"]}}),
    ("FeedbackRequest", {"label": "yes"}),
    ("FeedbackRequest", {"feedback": []}),
    ("FeedbackRequest", {"feedback": [{"request_id": "r", "label": "yes"}] * 1001}),
]
# Malformed values in a well-shaped body: the function answers, naming the row and the field.
VALUE_ERRORS = [
    ("PredictRequest", {"instances": [{"age": True, "plan": 3}]}),
    ("PredictRequest", {"instances": [1, 2]}),
    ("FeedbackRequest", {"request_id": 7, "label": ["x"], "row_index": -1}),
    ("FeedbackRequest", {"feedback": [{"label": "no request id"}]}),
]
WELL_FORMED = [
    ("PredictRequest", {"instances": [{"age": 3, "plan": "basic"}]}),
    ("PredictRequest", {"dataframe_split": {"columns": ["age"], "data": [[3]]}}),
    ("FeedbackRequest", {"request_id": "r", "label": "yes", "row_index": 2}),
    ("FeedbackRequest", {"feedback": [{"request_id": "r", "label": 1.5}] * 1000}),
]


def gateway_validator(name: str) -> jsonschema.Draft4Validator:
    (model,) = [route.request for route in ROUTES if route.request is not None and route.request.__name__ == name]
    schema = gateway_schema(model)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


@pytest.mark.parametrize(("name", "body"), SHAPE_ERRORS)
def test_the_gateway_refuses_a_body_of_the_wrong_shape(name: str, body: dict[str, Any]) -> None:
    assert not gateway_validator(name).is_valid(body)


def test_the_gateways_refusal_of_a_body_says_what_its_shape_is_the_feedbacks_limit_included() -> None:
    # (1001 labels are refused there: see SHAPE_ERRORS)
    assert "`feedback` (a list of 1 to 1000 labels)" in GATEWAY_RESPONSE["BAD_REQUEST_BODY"].message


@pytest.mark.parametrize(("name", "body"), VALUE_ERRORS + WELL_FORMED)
def test_the_gateway_passes_a_well_shaped_body_to_the_function(name: str, body: dict[str, Any]) -> None:
    assert gateway_validator(name).is_valid(body)


def test_gateway_messages_are_plain_text_in_a_mapping_template() -> None:
    """API Gateway renders the body as a VTL template: a `$` or `#` in a message would be code."""
    for response in GATEWAY_RESPONSES:
        assert "$" not in response.message and "#" not in response.message, response.type
        assert json.loads(json.dumps(gateway_body(response, "r")))["error"]["message"] == response.message


def test_the_document_names_every_status_a_client_can_get() -> None:
    predict = openapi_document()["paths"]["/models/{name}/predict"]["post"]["responses"]
    assert {"200", "400", "403", "404", "413", "429", "500", "502", "503", "504"} == set(predict)
    assert "`throttled` (API Gateway)" in predict["429"]["description"]
    # the function's own: a model without a champion, the online store down, our own fault
    assert "`not_found`:" in predict["404"]["description"] and "`model_not_found`:" in predict["404"]["description"]
    assert "`dependency_unavailable`:" in predict["503"]["description"]
    assert predict["500"]["description"].startswith("`internal_error`: The service failed, by our fault")
    assert "`payload_too_large`:" in predict["413"]["description"]  # the function's row and body limits
    assert "`payload_too_large` (API Gateway)" in predict["413"]["description"]
    describe = openapi_document()["paths"]["/models/{name}"]["get"]["responses"]
    assert "413" not in describe  # no body to be too large


def test_a_models_document_is_valid_and_shows_no_other_models_rows() -> None:
    from mlcore.catalog import SignatureField
    from mlcore.serving.openapi import model_document

    signature = [
        SignatureField(name="income", type="float", nullable=False),
        SignatureField(name="zip", type="string", nullable=True),
    ]
    document = model_document("shop-buy", 2, signature, ["no", "yes"], 1000)
    validate(document)  # every $ref left resolves
    text = json.dumps(document)
    # the generic bodies' example is the churn model's rows: not in another model's document
    assert "tenure_months" not in text and "PredictRequest" not in document["components"]["schemas"]
    assert {"shop-buy-predict-request", "shop-buy-instance", "ErrorResponse"} <= set(document["components"]["schemas"])
