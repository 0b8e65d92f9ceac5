"""Request validation against a model's signature: every client mistake is a 4xx naming `instances[i].field`."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import pytest

from mlcore.catalog import SignatureField
from mlcore.errors import BadRequestError, PayloadTooLargeError
from mlcore.routing import error_body
from mlcore.serving import parse_body, records_from_split, signature_of, validate_instances
from mlcore.serving.inputs import BULK_ROWS, UNKNOWN_FEATURE, as_split_error
from mlcore.spec import ModelSpec, parse_spec

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
def signature(churn_spec: ModelSpec) -> list[SignatureField]:
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


def refused(instances: Any, signature: list[SignatureField], max_rows: int = 100) -> BadRequestError:
    with pytest.raises(BadRequestError) as caught:
        validate_instances(instances, signature, max_rows)
    assert caught.value.status < 500
    return caught.value


def test_valid_batch_becomes_one_column_per_feature(signature: list[SignatureField]) -> None:
    inputs = validate_instances(rows(3, data_usage_gb=None), signature, 100)
    columns = inputs.tensors
    assert inputs.rows == 3
    assert list(columns) == [f.name for f in signature]
    assert columns["age"].shape == (3, 1)
    assert columns["age"].dtype == np.float32
    assert columns["plan"].dtype == object
    assert math.isnan(columns["data_usage_gb"][2, 0])  # nullable numeric: missing becomes NaN


def test_validated_values_are_the_cleaned_rows_for_capture(signature: list[SignatureField]) -> None:
    values = validate_instances(rows(2, data_usage_gb=None), signature, 100).values
    assert list(values) == [f.name for f in signature]
    assert values["age"] == [27.0, 27.0]
    assert all(isinstance(v, float) for v in values["tenure_months"])  # JSON ints become floats
    assert values["data_usage_gb"] == [12.4, None]
    assert values["plan"] == ["basic", "basic"]


def test_signature_types_follow_the_spec(signature: list[SignatureField]) -> None:
    assert signature[0] == SignatureField(
        name="tenure_months", type="float", nullable=False, minimum=0, maximum=120, integer=True
    )
    assert signature[4] == SignatureField(name="data_usage_gb", type="float", nullable=True, minimum=0)
    assert signature[5] == SignatureField(
        name="plan", type="string", nullable=False, categories=["basic", "standard", "premium"]
    )
    # allow_unseen: no categories
    assert signature[6] == SignatureField(name="region", type="string", nullable=False)


@pytest.mark.parametrize("count", [2, BULK_ROWS + 8])  # value by value, and in bulk
def test_an_integer_feature_refuses_a_fraction_naming_the_row(signature: list[SignatureField], count: int) -> None:
    error = refused(rows(count, tenure_months=12.5), signature)
    row = count - 1
    assert (error.field, error.message) == (
        f"instances[{row}].tenure_months",
        f"instances[{row}].tenure_months: expected a whole number (an integer feature), got 12.5",
    )
    # in bulk with a row that leaves out a nullable feature, checked column by column
    batch = rows(count, tenure_months=12.5)
    del batch[0]["data_usage_gb"]
    assert refused(batch, signature).field == f"instances[{row}].tenure_months"
    assert validate_instances(rows(count, tenure_months=12.0), signature, 100).values["tenure_months"][row] == 12.0


def test_an_unseen_category_is_refused_naming_the_field(signature: list[SignatureField]) -> None:
    error = refused(rows(2, plan="platinum"), signature)
    assert (error.status, error.field) == (400, "instances[1].plan")
    assert error.message.startswith("instances[1].plan: 'platinum' is not one of the model's categories")


def test_a_feature_that_allows_unseen_values_accepts_a_new_one(signature: list[SignatureField]) -> None:
    assert validate_instances(rows(2, region="antarctica"), signature, 100).values["region"][1] == "antarctica"


def test_a_categorical_feature_without_categories_accepts_any_string(churn_spec: ModelSpec) -> None:
    raw = churn_spec.model_dump(mode="json")
    raw["features"][5] = {"name": "plan", "type": "categorical"}
    signature = signature_of(parse_spec(raw).features)
    assert signature[5].categories is None
    assert validate_instances(rows(1, plan="platinum"), signature, 100).values["plan"] == ["platinum"]


def test_nan_is_missing_for_a_nullable_feature(signature: list[SignatureField]) -> None:
    inputs = validate_instances(rows(2, data_usage_gb=float("nan")), signature, 100)
    assert inputs.values["data_usage_gb"] == [12.4, None]  # captured as null, like JSON null
    assert math.isnan(inputs.tensors["data_usage_gb"][1, 0])


def test_json_nan_token_reaches_validation_like_null(signature: list[SignatureField]) -> None:
    body = '{"instances": [' + json.dumps(ROW).replace("12.4", "NaN") + "]}"
    assert validate_instances(parse_body(body), signature, 100).values["data_usage_gb"] == [None]
    error = refused(parse_body(body.replace('"age": 27', '"age": NaN')), signature)
    assert (error.field, error.message) == ("instances[0].age", "instances[0].age: must be a finite number")


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
    signature: list[SignatureField], changes: dict[str, Any], field: str, message: str
) -> None:
    error = refused(rows(3, **changes), signature)
    assert error.field == f"instances[2].{field}"
    assert error.message == f"instances[2].{field}: {message}"
    assert error.status == 400


def test_an_integer_beyond_float_range_is_a_bad_request(signature: list[SignatureField]) -> None:
    error = refused(rows(1, age=10**400), signature)
    assert error.field == "instances[0].age"


def test_a_number_beyond_float32_is_a_bad_request_not_an_infinite_input(signature: list[SignatureField]) -> None:
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
    signature: list[SignatureField], instances: Any, field: str, message: str
) -> None:
    error = refused(instances, signature)
    assert (error.field, error.message) == (field, message)


def test_too_many_rows_is_payload_too_large(signature: list[SignatureField]) -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        validate_instances(rows(11), signature, max_rows=10)
    assert caught.value.status == 413
    assert caught.value.message == "instances: 11 rows exceed the limit of 10"
    assert validate_instances(rows(10), signature, max_rows=10).tensors["age"].shape == (10, 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "the request body is empty"),
        ("", "the request body is empty"),
        ("{not json", "the request body is not valid JSON"),
        ("[1, 2]", "the request body must be a JSON object"),
        ("{}", "instances: required \\(or dataframe_split\\)$"),
        ('{"rows": [], "version": 1}', "instances: required \\(or dataframe_split\\); the body has 'rows', 'version'"),
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


def test_a_body_over_the_byte_limit_is_payload_too_large() -> None:
    body = json.dumps({"instances": rows(3)})
    assert len(parse_body(body, max_bytes=len(body))) == 3
    with pytest.raises(PayloadTooLargeError) as caught:
        parse_body(body, max_bytes=len(body) - 1)
    assert (caught.value.status, caught.value.field) == (413, "body")
    assert caught.value.message == f"body: {len(body)} bytes exceed the limit of {len(body) - 1}"
    # bytes as sent (UTF-8), not characters: each é is two
    accented = json.dumps({"instances": rows(3, region="é" * 10)}, ensure_ascii=False)
    sent = len(accented.encode())
    assert sent == len(accented) + 10  # (the last row's)
    assert len(parse_body(accented, max_bytes=sent)) == 3
    with pytest.raises(PayloadTooLargeError, match=f"^body: {sent} bytes exceed the limit of {sent - 1}$"):
        parse_body(accented, max_bytes=sent - 1)


# -- MLflow's dataframe_split --------------------------------------------------------------------


def split_of(instances: list[dict[str, Any]]) -> dict[str, Any]:
    columns = list(instances[0])
    return {"columns": columns, "data": [[row[c] for c in columns] for row in instances]}


def test_dataframe_split_gives_the_same_rows_as_instances(signature: list[SignatureField]) -> None:
    instances = rows(3, data_usage_gb=None)
    from_split = parse_body(json.dumps({"dataframe_split": split_of(instances)}))
    assert from_split == parse_body(json.dumps({"instances": instances})) == instances
    by_split = validate_instances(from_split, signature, 100)
    by_instances = validate_instances(instances, signature, 100)
    assert by_split.values == by_instances.values


COLUMNS = ["tenure_months", "age", "plan"]
KEY = "the entity key of feature view 'v'"


@pytest.mark.parametrize(
    ("field", "message", "named", "said"),
    [
        ("instances[1].age", "instances[1].age: expected a number, got str", "dataframe_split.data[1][1]",
         "dataframe_split.data[1][1] (age): expected a number, got str"),
        ("instances[0].region", "instances[0].region: is missing", "dataframe_split.columns",
         "dataframe_split.columns: 'region' is missing"),
        ("instances[0].plan", f"instances[0].plan: {UNKNOWN_FEATURE}", "dataframe_split.columns",
         f"dataframe_split.columns: 'plan' {UNKNOWN_FEATURE}"),
        ("instances", "instances: 1001 rows exceed the limit of 1000", "dataframe_split.data",
         "dataframe_split.data: 1001 rows exceed the limit of 1000"),
        ("instances[2].spend", "instances[2].spend: -5 is below the minimum 0", "dataframe_split.data[2]",
         "dataframe_split.data[2] (spend): -5 is below the minimum 0"),  # a value a feature view gave the row
        ("body", "body: not JSON", "body", "body: not JSON"),
        ("instances[0].card_id", f"instances[0].card_id: is missing: {KEY}", "dataframe_split.columns",
         f"dataframe_split.columns: 'card_id' is missing: {KEY}"),
        ("instances[0].age", f"instances[0].age: is missing: {KEY}", "dataframe_split.data[0][1]",
         f"dataframe_split.data[0][1] (age): is missing: {KEY}"),  # a null in the key's column
    ],
    ids=["a-value", "a-missing-column", "an-unknown-column", "too-many-rows", "a-viewed-value", "not-about-rows",
         "a-missing-key-column", "a-key-column-with-a-null"],
)  # fmt: skip
def test_a_refusal_of_split_rows_names_the_value_by_its_row_and_column(
    field: str, message: str, named: str, said: str
) -> None:
    error = as_split_error(PayloadTooLargeError(message, field=field), COLUMNS)
    assert (error.field, error.message, error.status) == (named, said, 413)


@pytest.mark.parametrize(
    ("split", "field"),
    [
        ({"columns": ["a", "b"], "data": [[1, 2], [3]]}, "dataframe_split.data[1]"),
        ({"columns": ["a", "b"], "data": [[1, 2], {"a": 1, "b": 2}]}, "dataframe_split.data[1]"),
        ({"columns": ["a"], "data": [[1, 2]]}, "dataframe_split.data[0]"),
        ({"columns": ["a", "a"], "data": [[1, 2]]}, "dataframe_split.columns"),
        ({"columns": ["a", 1], "data": [["x", 2]]}, "dataframe_split.columns"),
        ({"columns": ["a"], "data": {"a": [1]}}, "dataframe_split.data"),
        ({"columns": "a", "data": [[1]]}, "dataframe_split"),
        ({"data": [[1]]}, "dataframe_split"),
        ({"columns": ["a"]}, "dataframe_split"),
        ([["a"], [[1]]], "dataframe_split"),
    ],
    ids=["short-row", "object-row", "long-row", "duplicate-column", "non-string-column", "data-not-a-list",
         "columns-not-a-list", "no-columns", "no-data", "not-an-object"],
)  # fmt: skip
def test_a_malformed_dataframe_split_is_refused_naming_the_part(split: Any, field: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        records_from_split(split)
    assert (caught.value.status, caught.value.field) == (400, field)
    assert caught.value.message.startswith(field)
    with pytest.raises(BadRequestError) as through_the_body:
        parse_body(json.dumps({"dataframe_split": split}))
    assert through_the_body.value.field == field


def test_instances_and_dataframe_split_together_are_refused() -> None:
    body = json.dumps({"instances": rows(1), "dataframe_split": split_of(rows(1))})
    with pytest.raises(BadRequestError, match="not both") as caught:
        parse_body(body)
    assert caught.value.field == "body"


@pytest.mark.parametrize("count", [1, BULK_ROWS])  # value by value, and in bulk
def test_a_nullable_feature_may_be_left_out_of_a_row(signature: list[SignatureField], count: int) -> None:
    inputs = validate_instances(rows(count, data_usage_gb=...), signature, 100)
    assert inputs.values["data_usage_gb"][-1] is None
    assert math.isnan(inputs.tensors["data_usage_gb"][-1, 0])


def test_a_required_feature_left_out_is_named(signature: list[SignatureField]) -> None:
    with pytest.raises(BadRequestError) as caught:
        validate_instances(rows(2, age=...), signature, 100)
    assert (caught.value.field, caught.value.message) == ("instances[1].age", "instances[1].age: is missing")


@pytest.mark.parametrize("count", [1, BULK_ROWS])
@pytest.mark.parametrize(
    ("value", "accepted", "message"),
    [
        (18, True, None),  # age's minimum, just inside
        (17.999, False, "17.999 is below the minimum 18"),  # just outside
        (100, True, None),  # its maximum
        (100.001, False, "100.001 is above the maximum 100"),
        (100.0000001, False, "100.0000001 is above the maximum 100"),  # shown as sent, not rounded to the bound
    ],
)
def test_a_number_outside_the_specs_bounds_is_refused_at_the_bound(
    signature: list[SignatureField], count: int, value: float, accepted: bool, message: str | None
) -> None:
    batch = rows(count, age=value)
    if accepted:
        assert validate_instances(batch, signature, 100).values["age"][-1] == value
        return
    with pytest.raises(BadRequestError) as caught:
        validate_instances(batch, signature, 100)
    assert caught.value.message == f"instances[{count - 1}].age: {message}"


# -- the bulk path gives what the value-by-value path gives -------------------------------------------


def varied(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Valid rows with every feature varying, nulls in the nullable one, ints and floats mixed."""
    rng = np.random.default_rng(seed)
    return [
        {
            "tenure_months": int(rng.integers(0, 121)),
            "monthly_charges": float(round(rng.uniform(0, 500), 2)),
            "support_calls": int(rng.integers(0, 51)),
            "age": int(rng.integers(18, 101)),
            "data_usage_gb": None if i % 5 == 0 else float(rng.uniform(0, 80)),
            "plan": ["basic", "standard", "premium"][i % 3],
            "region": ["north", "south", "east", "west", "Zürich"][i % 5],
        }
        for i in range(count)
    ]


def small_signature(*features: dict[str, Any]) -> list[SignatureField]:
    spec = parse_spec({"name": "prices", "task": "regression", "target": "y", "estimator": {"kind": "ridge"},
                       "metrics": {"primary": "rmse"}, "features": list(features)})  # fmt: skip
    return signature_of(spec.features)


def one_by_one(batch: list[dict[str, Any]], signature: list[SignatureField]) -> dict[str, np.ndarray]:
    singles = [validate_instances([row], signature, 100).tensors for row in batch]
    return {name: np.concatenate([t[name] for t in singles]) for name in singles[0]}


@pytest.mark.parametrize("count", [BULK_ROWS - 1, BULK_ROWS, 3 * BULK_ROWS])
@pytest.mark.parametrize("unicode", [False, True])
def test_a_batch_gives_the_tensors_of_its_rows_one_by_one(
    signature: list[SignatureField], count: int, unicode: bool
) -> None:
    batch = varied(count)
    if not unicode:
        for row in batch:
            row["region"] = "north"
    tensors = validate_instances(batch, signature, 1000).tensors
    expected = one_by_one(batch, signature)
    assert list(tensors) == [f.name for f in signature]
    for name, tensor in tensors.items():
        assert tensor.shape == (count, 1), name
        assert tensor.dtype == expected[name].dtype, name
        if tensor.dtype == np.float32:
            np.testing.assert_array_equal(tensor, expected[name])
        else:
            assert tensor.ravel().tolist() == expected[name].ravel().tolist()


def test_a_clean_batch_of_bulk_size_is_checked_in_bulk_and_keeps_its_numbers(signature: list[SignatureField]) -> None:
    batch = [copy.deepcopy(ROW) for _ in range(BULK_ROWS)]
    checked = validate_instances(batch, signature, 100)
    assert isinstance(checked.values["age"], np.ndarray) and checked.values["age"].dtype == np.float64
    assert checked.values["age"].tolist() == [27.0] * BULK_ROWS
    assert checked.values["plan"] == ["basic"] * BULK_ROWS and checked.rows == BULK_ROWS
    below = validate_instances(batch[:-1], signature, 100)  # one row fewer: value by value
    assert below.values["age"] == [27.0] * (BULK_ROWS - 1)


@pytest.mark.parametrize("count", [1, BULK_ROWS])
@pytest.mark.parametrize(("feature", "value"), [("age", 18), ("age", 100), ("age", 18.0), ("monthly_charges", 500.0)])
def test_a_value_at_its_bound_is_accepted_in_bulk_and_one_by_one(
    signature: list[SignatureField], count: int, feature: str, value: float
) -> None:
    batch = [copy.deepcopy(ROW) for _ in range(count)]
    for row in batch:
        row[feature] = value
    assert list(validate_instances(batch, signature, 100).values[feature]) == [float(value)] * count


@pytest.mark.parametrize("count", [1, BULK_ROWS])
def test_a_missing_value_is_nan_or_empty_text_in_the_tensors(signature: list[SignatureField], count: int) -> None:
    batch = rows(count, data_usage_gb=None)
    tensors = validate_instances(batch, signature, 100).tensors
    assert np.isnan(tensors["data_usage_gb"][-1, 0]) and tensors["data_usage_gb"].shape == (count, 1)
    small = small_signature({"name": "city", "type": "categorical", "nullable": True}, {"name": "n", "type": "numeric"})
    text = validate_instances([{"city": None, "n": 1.0}] * count, small, 100).tensors["city"]
    assert text.ravel().tolist() == [""] * count and text.dtype == object


@pytest.mark.parametrize("count", [1, BULK_ROWS])
def test_a_lone_surrogate_is_refused_as_text(signature: list[SignatureField], count: int) -> None:
    notes = small_signature({"name": "note", "type": "categorical"})
    batch = [{"note": "fine"} for _ in range(count)]
    batch[-1]["note"] = "bad \ud800"
    with pytest.raises(BadRequestError) as caught:
        validate_instances(batch, notes, 100)
    assert caught.value.message == f"instances[{count - 1}].note: is not valid Unicode text"
    assert caught.value.field == f"instances[{count - 1}].note"
    # text beyond ASCII is fine
    batch[-1]["note"] = "Zürich"
    assert validate_instances(batch, notes, 100).values["note"][-1] == "Zürich"


def test_one_feature_alone_is_validated_in_bulk_too() -> None:
    checked = validate_instances(
        [{"n": float(i)} for i in range(BULK_ROWS)], small_signature({"name": "n", "type": "numeric"}), 100
    )
    assert checked.tensors["n"].ravel().tolist() == [float(i) for i in range(BULK_ROWS)]


def test_the_limit_message_names_the_rows_and_the_limit(signature: list[SignatureField]) -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        validate_instances(rows(3), signature, 2)
    assert (caught.value.message, caught.value.field) == ("instances: 3 rows exceed the limit of 2", "instances")


def test_an_unbounded_number_may_take_any_float32_value(signature: list[SignatureField]) -> None:
    big = float(np.finfo(np.float32).max)
    assert validate_instances(rows(1, data_usage_gb=big), signature, 100).values["data_usage_gb"] == [big]
    assert validate_instances(rows(1, monthly_charges=0), signature, 100).values["monthly_charges"] == [0.0]


@pytest.mark.parametrize("count", [BULK_ROWS, 2 * BULK_ROWS + 1])
def test_a_clean_batch_checked_in_bulk_gives_the_tensors_the_model_takes(
    signature: list[SignatureField], count: int
) -> None:
    # every row complete, in bounds and ASCII: the bulk path answers it whole
    batch = [{**ROW, "age": 20 + i % 50, "monthly_charges": 10.5 + i} for i in range(count)]
    tensors = validate_instances(batch, signature, 1000).tensors
    expected = one_by_one(batch, signature)
    for field in signature:
        tensor = tensors[field.name]
        assert (tensor.shape, tensor.dtype) == ((count, 1), expected[field.name].dtype), field.name
        assert tensor.ravel().tolist() == expected[field.name].ravel().tolist(), field.name
    assert tensors["age"].dtype == np.float32 and tensors["plan"].dtype == object


def test_two_features_in_bulk_keep_their_columns_apart() -> None:
    signature = small_signature({"name": "rooms", "type": "numeric"}, {"name": "district", "type": "categorical"})
    batch = [{"rooms": float(i), "district": f"d{i % 3}"} for i in range(BULK_ROWS)]
    checked = validate_instances(batch, signature, 100)
    assert checked.tensors["rooms"].ravel().tolist() == [float(i) for i in range(BULK_ROWS)]
    assert checked.tensors["district"].ravel().tolist() == [f"d{i % 3}" for i in range(BULK_ROWS)]
    assert checked.values["district"] == [f"d{i % 3}" for i in range(BULK_ROWS)]


def test_columns_become_model_tensors_of_one_column_each() -> None:
    from mlcore.serving import tensors_from_columns

    signature = small_signature({"name": "rooms", "type": "numeric"}, {"name": "district", "type": "categorical"})
    tensors = tensors_from_columns({"rooms": [1.0, None, 3.0], "district": ["a", None, "c"]}, signature)
    assert (tensors["rooms"].shape, tensors["rooms"].dtype) == ((3, 1), np.float32)
    assert (tensors["district"].shape, tensors["district"].dtype) == ((3, 1), object)
    assert math.isnan(tensors["rooms"][1, 0])
    assert tensors["district"].ravel().tolist() == ["a", "", "c"]


def test_columns_given_as_arrays_become_the_same_tensors() -> None:
    """As a table gives them (batch scoring, training): float64 with NaN, and objects with None for text."""
    from mlcore.serving import tensors_from_columns

    signature = small_signature({"name": "rooms", "type": "numeric"}, {"name": "district", "type": "categorical"})
    columns = {"rooms": np.array([1.0, np.nan, 3.0]), "district": np.array(["a", None, "c"], dtype=object)}
    tensors = tensors_from_columns(columns, signature)
    assert (tensors["district"].shape, tensors["district"].dtype) == ((3, 1), object)
    assert tensors["district"].ravel().tolist() == ["a", "", "c"]  # a missing text is the empty string
    assert tensors["rooms"].shape == (3, 1) and math.isnan(tensors["rooms"][1, 0])


def test_a_model_of_categorical_features_only_is_checked_in_bulk() -> None:
    signature = small_signature({"name": "district", "type": "categorical"}, {"name": "kind", "type": "categorical"})
    batch = [{"district": f"d{i % 3}", "kind": "flat"} for i in range(BULK_ROWS)]
    checked = validate_instances(batch, signature, 100)
    assert checked.tensors["district"].shape == (BULK_ROWS, 1)
    assert checked.values["kind"] == ["flat"] * BULK_ROWS


def test_a_signature_read_back_as_features_gives_the_same_signature() -> None:
    from mlcore.serving import features_of

    spec = parse_spec(
        {
            "name": "shop",
            "task": "regression",
            "target": "spend",
            "features": [
                {"name": "visits", "type": "integer", "min": 0, "max": 31},
                {"name": "basket", "type": "numeric", "nullable": True, "min": 0.5},
                {"name": "tier", "type": "categorical", "categories": ["a", "b"]},
                {"name": "city", "type": "categorical", "categories": ["x"], "allow_unseen": True},
                {"name": "note", "type": "categorical", "nullable": True},
            ],
            "estimator": {"kind": "ridge"},
            "metrics": {"primary": "rmse"},
        }
    )
    served = signature_of(spec.features)
    assert signature_of(features_of(served)) == served
    assert [(f.name, str(f.type)) for f in features_of(served)] == [
        ("visits", "integer"), ("basket", "numeric"), ("tier", "categorical"), ("city", "categorical"),
        ("note", "categorical"),
    ]  # fmt: skip
