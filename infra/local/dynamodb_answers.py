"""The embedded AWS's DynamoDB answers, made without moto's walks over every plain attribute: serialized, projected.

moto serializes a response by walking its shape: for an attribute value, a structure of ten members, it looks
each member up under two spellings. An item of five attributes costs about 50 lookups, so a BatchGetItem of 100
items (an enrichment of 100 rows) spent over 20 ms in the serializer alone. Here an attribute value that is a
string, a number, a boolean or a null, and an item made only of such values, is copied as it is: what the
shape walk would produce for it, since those members are written unchanged. Anything else (binary, sets,
lists, maps) takes moto's walk, which encodes binary values and recurses.

Reads with a projection of top-level attributes (the online store's `pk, event_time, doc`) are cut the same
way: moto projects an item by turning it into Python values and back, attribute by attribute, about 60% of a
100-key BatchGetItem's time; here the projected item holds the stored attribute values themselves, as a read
without a projection does. Nested paths and list elements still take moto's projection.

And a DynamoDB request is handed to moto's DynamoDB handler as moto's Flask view would hand it, without Flask:
its request context, URL routing and CORS hook cost a quarter of a one-key read's round trip on loopback (the
online store's read on the prediction path). The answer is the view's, CORS header included; a browser's call
(with an Origin) and anything that is not a POST to `/` still go through Flask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError
from flask import Response  # moto's Flask view answers with it (its default content type, for a bare text)
from moto.core.serialize import SERVICE_SPECIFIC_SERIALIZERS, JSONSerializer
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.responses import DynamoHandler
from moto.moto_api import recorder
from moto.moto_server.werkzeug_app import BackendRequest
from moto.settings import DISABLE_GLOBAL_CORS

# The members of an attribute value written unchanged, with the Python type each holds in moto's answers.
PLAIN = {"S": str, "N": str, "BOOL": bool, "NULL": bool}
ATTRIBUTE_VALUE, ATTRIBUTE_MAP = "AttributeValue", "AttributeMap"  # the shapes' names in DynamoDB's API model
MOTO_PROJECT = Item.project
TARGET_PREFIX = "DynamoDB_20120810."  # X-Amz-Target of DynamoDB's operations (not of DynamoDB Streams')


def plain(value: Any) -> bool:
    """Whether an attribute value is one plain member ({"S": "text"}, {"N": "1.5"}, {"BOOL": true}, ...)."""
    if type(value) is not dict or len(value) != 1:
        return False
    [(member, held)] = value.items()
    return type(held) is PLAIN.get(member)


class DynamoDBSerializer(JSONSerializer):
    """moto's JSON serializer, with plain attribute values and items of them copied rather than walked."""

    def _serialize_type_structure(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == ATTRIBUTE_VALUE and plain(value):
            self._default_serialize(serialized, dict(value), shape, key)
            return
        super()._serialize_type_structure(serialized, value, shape, key)

    def _serialize_type_map(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == ATTRIBUTE_MAP and type(value) is dict and all(map(plain, value.values())):
            self._default_serialize(
                serialized, {name: dict(attribute) for name, attribute in value.items()}, shape, key
            )
            return
        super()._serialize_type_map(serialized, value, shape, key)


def project_top_level(self: Item, projection_expressions: list[list[str]]) -> Item:
    """moto's `Item.project`, with a projection of top-level attributes only made by copying them."""
    names = [path[0] for path in projection_expressions if len(path) == 1 and "[" not in path[0]]
    if len(names) != len(projection_expressions):  # a nested path or a list element
        return MOTO_PROJECT(self, projection_expressions)
    projected = Item(self.hash_key, self.range_key, {})
    # dict.update: the stored item passed moto's size check, which LimitedSizeDict would repeat per attribute
    dict.update(projected.attrs, {name: self.attrs[name] for name in names if name in self.attrs})
    return projected


def is_dynamodb(environ: dict[str, Any]) -> bool:
    """Whether a request is an SDK's call of one of DynamoDB's operations: a POST to `/` naming the operation in
    a header (its JSON protocol). A browser's (with an Origin) goes through Flask, whose CORS hook answers it."""
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("PATH_INFO") == "/"
        and "HTTP_ORIGIN" not in environ
        and str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(TARGET_PREFIX)
    )


def answer_dynamodb(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A DynamoDB request answered by moto's handler, as moto's Flask view (`convert_to_flask_response`) does."""
    request = BackendRequest(environ)  # the request class of moto's Flask apps
    recorder._record_request(request)  # moto's request recorder, when it is on
    try:
        status, headers, body = DynamoHandler.dispatch(request, request.raw_url, dict(request.headers))
    except ClientError as error:
        status, headers, body = 400, {}, error.response["Error"]["Message"]
    response = Response(response=body, status=status, headers=headers)
    if not DISABLE_GLOBAL_CORS:
        response.headers["Access-Control-Allow-Origin"] = "*"  # what flask-cors adds to a request without an Origin
    return response(environ, start_response)


def use_fast_answers() -> None:
    """Serialize DynamoDB's JSON answers with DynamoDBSerializer, and project items' top-level attributes by
    copying them, in this process (idempotent)."""
    SERVICE_SPECIFIC_SERIALIZERS.setdefault("dynamodb", {})["json"] = DynamoDBSerializer
    Item.project = project_top_level  # type: ignore[method-assign]
