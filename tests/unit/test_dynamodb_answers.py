"""The embedded AWS's DynamoDB serializer answers what moto's does, copying plain items rather than walking them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.core.serialize import JSONSerializer, XFormedAttributePicker
from moto.core.utils import get_service_model

from infra.local.dynamodb_answers import DynamoDBSerializer, plain

PLAIN_ITEM = {"pk": {"S": "card-7"}, "amount": {"N": "12.5"}, "blocked": {"BOOL": False}, "note": {"NULL": True}}
RICH_ITEM = {
    **PLAIN_ITEM,
    "raw": {"B": b"\x00\xff"},
    "tags": {"SS": ["a", "b"]},
    "sizes": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"x", b"\x01"]},
    "nested": {"M": {"inner": {"S": "v"}, "deeper": {"M": {"b": {"B": b"zz"}}}, "list": {"L": [{"N": "1"}]}}},
    "list": {"L": [{"S": "x"}, {"BOOL": True}, {"M": {"k": {"NULL": True}}}]},
    "count": {"N": "3"},
}
ANSWERS = {
    "GetItem": {"Item": PLAIN_ITEM},
    "BatchGetItem": {"Responses": {"online": [PLAIN_ITEM, RICH_ITEM], "other": [RICH_ITEM]}, "UnprocessedKeys": {}},
    "Query": {"Items": [RICH_ITEM, PLAIN_ITEM], "Count": 2, "ScannedCount": 2, "LastEvaluatedKey": {"pk": {"S": "x"}}},
    "Scan": {"Items": [], "Count": 0, "ScannedCount": 0},
    "PutItem": {"Attributes": RICH_ITEM},
}


def answer(serializer: type[JSONSerializer], operation: str, result: Any) -> Any:
    model = get_service_model("dynamodb").operation_model(operation)
    picker = XFormedAttributePicker(response_transformers=None)  # as moto's ActionResult builds it
    return serializer(operation_model=model, value_picker=picker).serialize(result)


@pytest.mark.parametrize("operation", sorted(ANSWERS))
def test_every_answer_is_moto_s_to_the_byte(operation: str) -> None:
    ours, moto = (
        answer(serializer, operation, ANSWERS[operation]) for serializer in (DynamoDBSerializer, JSONSerializer)
    )
    assert ours == moto
    assert ours["body"] == moto["body"]


def test_a_rich_item_keeps_its_binary_values_encoded_once() -> None:
    body = json.loads(answer(DynamoDBSerializer, "GetItem", {"Item": RICH_ITEM})["body"])
    assert body["Item"]["raw"] == {"B": "AP8="} and body["Item"]["nested"]["M"]["deeper"]["M"]["b"] == {"B": "eno="}
    assert body["Item"]["pk"] == {"S": "card-7"}


def test_a_plain_item_is_copied_without_walking_its_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []
    walk = JSONSerializer.get_value
    monkeypatch.setattr(
        JSONSerializer,
        "get_value",
        lambda self, value, key, shape: looked_up.append(key) or walk(self, value, key, shape),
    )
    answer(DynamoDBSerializer, "GetItem", {"Item": PLAIN_ITEM})
    assert looked_up == ["Item", "ConsumedCapacity"]  # the answer's members only: the item is copied whole
    looked_up.clear()
    answer(JSONSerializer, "GetItem", {"Item": PLAIN_ITEM})
    assert len(looked_up) > 4 * len(PLAIN_ITEM)  # moto's walk: every member of every attribute value


@pytest.mark.parametrize(
    ("value", "is_plain"),
    [
        ({"S": "x"}, True),
        ({"N": "1"}, True),
        ({"BOOL": True}, True),
        ({"NULL": True}, True),
        ({"N": 1}, False),  # a number not held as text: moto's walk writes it as text
        ({"S": "x", "N": "1"}, False),
        ({"B": b"x"}, False),
        ({"SS": ["x"]}, False),
        ({"M": {}}, False),
        ({}, False),
        ("x", False),
    ],
)
def test_only_a_single_plain_member_is_copied(value: Any, is_plain: bool) -> None:
    assert plain(value) is is_plain
