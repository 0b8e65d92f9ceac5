"""The embedded AWS's DynamoDB answers, serialized without walking the API's shapes for every plain attribute.

moto serializes a response by walking its shape: for an attribute value, a structure of ten members, it looks
each member up under two spellings. An item of five attributes costs about 50 lookups, so a BatchGetItem of 100
items (an enrichment of 100 rows) spent over 20 ms in the serializer alone. Here an attribute value that is a
string, a number, a boolean or a null, and an item made only of such values, is copied as it is: what the
shape walk would produce for it, since those members are written unchanged. Anything else (binary, sets,
lists, maps) takes moto's walk, which encodes binary values and recurses.
"""

from __future__ import annotations

from typing import Any

from moto.core.serialize import SERVICE_SPECIFIC_SERIALIZERS, JSONSerializer

# The members of an attribute value written unchanged, with the Python type each holds in moto's answers.
PLAIN = {"S": str, "N": str, "BOOL": bool, "NULL": bool}
ATTRIBUTE_VALUE, ATTRIBUTE_MAP = "AttributeValue", "AttributeMap"  # the shapes' names in DynamoDB's API model


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


def use_fast_answers() -> None:
    """Serialize DynamoDB's JSON answers with DynamoDBSerializer in this process (moto's registry of
    service-specific serializers; idempotent)."""
    SERVICE_SPECIFIC_SERIALIZERS.setdefault("dynamodb", {})["json"] = DynamoDBSerializer
