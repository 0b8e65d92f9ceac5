"""Request validation against a model's signature: every client mistake is a 4xx naming `instances[i].field`."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

from mlcore.errors import BadRequestError, PayloadTooLargeError
from mlcore.inference import error_body, parse_body
from mlcore.serving import signature_of, validate_instances
from mlcore.spec import ModelSpec

ROW = {
    "tenure_months": 3,
    "monthly_charges": 89.5,
    "support_calls": 4,
    "age": 27,
    "data_usage_gb": 12.4,
    "plan": "basic",
    "region": "north",
}


@pytest.fixture
def signature(churn_spec: ModelSpec) -> list[dict[str, Any]]:
    return signature_of(churn_spec.features)


def rows(count: int = 2, **changes: Any) -> list[dict[str, Any]]:
    """`count` valid rows; `changes` apply to the last one (a key mapped to ... is removed)."""
    batch = [copy.deepcopy(ROW) for _ in range(count)]
    for key, value in changes.items():
        if value is ...:
            del batch[-1][key]
        else:
            batch[-1][key] = value
    return batch


def refused(instances: Any, signature: list[dict[str, Any]], max_rows: int = 100) -> BadRequestError:
    with pytest.raises(BadRequestError) as caught:
        validate_instances(instances, signature, max_rows)
    assert caught.value.status < 500
    return caught.value


def test_valid_batch_becomes_one_column_per_feature(signature: list[dict[str, Any]]) -> None:
    columns = validate_instances(rows(3, data_usage_gb=None), signature, 100)
    assert list(columns) == [f["name"] for f in signature]
    assert columns["age"].shape == (3, 1)
    assert columns["age"].dtype == np.float32
    assert columns["plan"].dtype == object
    assert math.isnan(columns["data_usage_gb"][2, 0])  # nullable numeric: missing becomes NaN


def test_signature_types_follow_the_spec(signature: list[dict[str, Any]]) -> None:
    assert signature[0] == {"name": "tenure_months", "type": "float", "nullable": False}
    assert signature[4] == {"name": "data_usage_gb", "type": "float", "nullable": True}
    assert signature[5] == {"name": "plan", "type": "string", "nullable": False}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"age": ...}, "age", "is missing"),
        ({"colour": "red"}, "colour", "is not a feature of this model"),
        ({"age": "27"}, "age", "expected a number, got str"),
        ({"age": True}, "age", "expected a number, got bool"),
        ({"age": [27]}, "age", "expected a number, got list"),
        ({"age": None}, "age", "is required and may not be null"),
        ({"age": float("nan")}, "age", "must be a finite number"),
        ({"monthly_charges": float("inf")}, "monthly_charges", "must be a finite number"),
        ({"monthly_charges": float("-inf")}, "monthly_charges", "must be a finite number"),
        ({"plan": 1}, "plan", "expected a string, got int"),
        ({"plan": None}, "plan", "is required and may not be null"),
    ],
)
def test_a_bad_value_is_refused_naming_row_and_field(
    signature: list[dict[str, Any]], changes: dict[str, Any], field: str, message: str
) -> None:
    error = refused(rows(3, **changes), signature)
    assert error.field == f"instances[2].{field}"
    assert error.message == f"instances[2].{field}: {message}"
    assert error.status == 400


def test_an_integer_beyond_float_range_is_a_bad_request(signature: list[dict[str, Any]]) -> None:
    error = refused(rows(1, age=10**400), signature)
    assert error.field == "instances[0].age"


def test_a_number_beyond_float32_is_a_bad_request_not_an_infinite_input(signature: list[dict[str, Any]]) -> None:
    error = refused(rows(1, monthly_charges=1e39), signature)
    assert error.field == "instances[0].monthly_charges"
    assert "float32" in error.message


@pytest.mark.parametrize(
    ("instances", "field", "message"),
    [
        ([], "instances", "instances: the batch is empty"),
        ({"age": 3}, "instances", "instances: expected a list of objects"),
        ("rows", "instances", "instances: expected a list of objects"),
        ([ROW, [1, 2]], "instances[1]", "instances[1]: expected an object"),
        ([ROW, None], "instances[1]", "instances[1]: expected an object"),
    ],
)
def test_malformed_batches_are_refused(
    signature: list[dict[str, Any]], instances: Any, field: str, message: str
) -> None:
    error = refused(instances, signature)
    assert (error.field, error.message) == (field, message)


def test_too_many_rows_is_payload_too_large(signature: list[dict[str, Any]]) -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        validate_instances(rows(11), signature, max_rows=10)
    assert caught.value.status == 413
    assert caught.value.message == "instances: 11 rows exceed the limit of 10"
    assert validate_instances(rows(10), signature, max_rows=10)["age"].shape == (10, 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "the request body is empty"),
        ("", "the request body is empty"),
        ("{not json", "the request body is not valid JSON"),
        ("[1, 2]", "the request body must be a JSON object"),
        ('{"rows": []}', "instances: required"),
    ],
)
def test_parse_body_refuses_what_is_not_a_request(body: str | None, message: str) -> None:
    with pytest.raises(BadRequestError, match=message) as caught:
        parse_body(body)
    assert caught.value.status == 400


def test_error_body_carries_code_message_and_field() -> None:
    error = BadRequestError("instances[0].age: is missing", field="instances[0].age")
    assert error_body(error) == {
        "error": {"code": "bad_request", "message": "instances[0].age: is missing", "field": "instances[0].age"}
    }
